// The SLA settings as a form: the policies in the order they are tried (conditions as
// the routing rules have them, the three targets in minutes, the calendar they count
// in), the business-hours calendars (time zone, opening hours per day, holidays), and
// when a target counts as at risk. Saved whole; the API's validation names the field.

import { type Schemas } from "../api/client";
import { humanize } from "../format";
import { DraftButtons, freshId, ItemButtons, moved, Options, replaced, useDraft } from "./common";
import { ConditionsEditor } from "./Rules";

type Settings = Schemas["SlaSettings"];
type Policy = Schemas["SlaPolicy"];
type Calendar = Schemas["Calendar"];
type Targets = Schemas["Targets"];
type Day = Schemas["Day"];

const DAYS: Day[] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const TARGETS: { key: keyof Targets; label: string }[] = [
  { key: "first_response_minutes", label: "First response" },
  { key: "next_response_minutes", label: "Next response" },
  { key: "resolution_minutes", label: "Resolution" },
];

/** Minutes typed; empty: the target is not tracked. */
function minutesOf(text: string): number | null {
  const n = Number.parseInt(text, 10);
  return text.trim() === "" || Number.isNaN(n) ? null : n;
}

function PolicyEditor(props: { p: Policy; calendars: Calendar[]; first: boolean; last: boolean; onChange: (p: Policy) => void; onMove: (by: -1 | 1) => void; onRemove: () => void }) {
  const { p, onChange } = props;
  return (
    <li className="rule-editor" aria-label={`Policy ${p.name || p.id}`}>
      <div className="row">
        <input aria-label="Policy name" className="name" value={p.name} onChange={(e) => onChange({ ...p, name: e.target.value })} />
        <ItemButtons name={p.name} first={props.first} last={props.last} onMove={props.onMove} onRemove={props.onRemove} />
      </div>
      <ConditionsEditor conditions={p.conditions ?? []} owner={p.name} onChange={(conditions) => onChange({ ...p, conditions })} />
      <div className="row actions">
        {TARGETS.map((t) => (
          <label key={t.key}>
            {t.label} (minutes)
            <input
              aria-label={`${t.label} minutes of ${p.name}`}
              type="number"
              min={1}
              placeholder="not tracked"
              value={p.targets[t.key] ?? ""}
              onChange={(e) => onChange({ ...p, targets: { ...p.targets, [t.key]: minutesOf(e.target.value) } })}
            />
          </label>
        ))}
        <label>
          Counted in
          <select aria-label={`Calendar of ${p.name}`} value={p.calendar ?? ""} onChange={(e) => onChange({ ...p, calendar: e.target.value || null })}>
            <option value="">every hour (24/7)</option>
            <Options items={props.calendars} />
          </select>
        </label>
      </div>
    </li>
  );
}

function CalendarEditor({ c, onChange, onRemove }: { c: Calendar; onChange: (c: Calendar) => void; onRemove: () => void }) {
  const hours = c.hours;
  const holidays = c.holidays ?? [];
  const setHours = (i: number, h: Calendar["hours"][number] | null) => onChange({ ...c, hours: replaced(hours, i, h) });
  const setHoliday = (i: number, h: Schemas["Holiday"] | null) => onChange({ ...c, holidays: replaced(holidays, i, h) });
  return (
    <li className="rule-editor" aria-label={`Calendar ${c.name || c.id}`}>
      <div className="row">
        <input aria-label="Calendar name" className="name" value={c.name} onChange={(e) => onChange({ ...c, name: e.target.value })} />
        <input aria-label={`Time zone of ${c.name}`} placeholder="Europe/Berlin" value={c.time_zone} onChange={(e) => onChange({ ...c, time_zone: e.target.value })} />
        <button type="button" className="danger" onClick={onRemove}>
          Remove
        </button>
      </div>
      {hours.map((h, i) => (
        <div className="row" key={i}>
          <select aria-label={`Day ${i + 1} of ${c.name}`} value={h.day} onChange={(e) => setHours(i, { ...h, day: e.target.value as Day })}>
            {DAYS.map((d) => (
              <option key={d} value={d}>
                {humanize(d)}
              </option>
            ))}
          </select>
          <input aria-label={`Opens on day ${i + 1} of ${c.name}`} type="time" value={h.from} onChange={(e) => setHours(i, { ...h, from: e.target.value })} />
          <input aria-label={`Closes on day ${i + 1} of ${c.name}`} placeholder="HH:MM or 24:00" value={h.to} onChange={(e) => setHours(i, { ...h, to: e.target.value })} />
          <button type="button" aria-label={`Remove day ${i + 1} of ${c.name}`} onClick={() => setHours(i, null)}>
            ✕
          </button>
        </div>
      ))}
      <button type="button" onClick={() => onChange({ ...c, hours: [...hours, { day: DAYS[Math.min(hours.length, 6)], from: "09:00", to: "17:00" }] })}>
        Add opening hours
      </button>
      {holidays.map((h, i) => (
        <div className="row" key={i}>
          <input aria-label={`Holiday ${i + 1} of ${c.name}`} type="date" value={h.date} onChange={(e) => setHoliday(i, { ...h, date: e.target.value })} />
          <input aria-label={`Holiday ${i + 1} name of ${c.name}`} placeholder="name" value={h.name ?? ""} onChange={(e) => setHoliday(i, { ...h, name: e.target.value })} />
          <button type="button" aria-label={`Remove holiday ${i + 1} of ${c.name}`} onClick={() => setHoliday(i, null)}>
            ✕
          </button>
        </div>
      ))}
      <button type="button" onClick={() => onChange({ ...c, holidays: [...holidays, { date: "", name: "" }] })}>
        Add holiday
      </button>
    </li>
  );
}

/** The SLA form over `value` (what GET returned); `onSave` sends the edited document. */
export function SlaForm({ value, onSave }: { value: Settings; onSave: (v: Settings) => Promise<boolean> }) {
  const { draft, setDraft, round, changed, discard } = useDraft(value);
  const policies = draft.policies ?? [];
  const calendars = draft.calendars ?? [];
  const setPolicies = (next: Policy[]) => setDraft({ ...draft, policies: next });
  const setCalendars = (next: Calendar[]) => setDraft({ ...draft, calendars: next });
  return (
    <form
      aria-label="SLA form"
      className="rules-form"
      onSubmit={(e) => {
        e.preventDefault();
        void onSave(draft);
      }}
    >
      <h3>Policies (the first whose conditions hold applies)</h3>
      <ol className="rules">
        {policies.map((p, i) => (
          <PolicyEditor
            key={`${round}-${p.id}`}
            p={p}
            calendars={calendars}
            first={i === 0}
            last={i === policies.length - 1}
            onChange={(next) => setPolicies(replaced(policies, i, next))}
            onMove={(by) => setPolicies(moved(policies, i, by))}
            onRemove={() => setPolicies(replaced(policies, i, null))}
          />
        ))}
      </ol>
      <button type="button" onClick={() => setPolicies([...policies, { id: freshId(policies, "policy"), name: "New policy", conditions: [], targets: { first_response_minutes: 60, resolution_minutes: 1440 } }])}>
        Add policy
      </button>
      <h3>Business hours</h3>
      <ul className="rules">
        {calendars.map((c, i) => (
          <CalendarEditor
            key={`${round}-${c.id}`}
            c={c}
            onChange={(next) => setCalendars(replaced(calendars, i, next))}
            onRemove={() => setCalendars(replaced(calendars, i, null))}
          />
        ))}
      </ul>
      <button
        type="button"
        onClick={() =>
          setCalendars([
            ...calendars,
            { id: freshId(calendars, "hours"), name: "New hours", time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone, hours: DAYS.slice(0, 5).map((day) => ({ day, from: "09:00", to: "17:00" })), holidays: [] },
          ])
        }
      >
        Add calendar
      </button>
      <label>
        At risk after (percent of a target's time)
        <input
          aria-label="At risk after percent"
          type="number"
          min={1}
          max={99}
          value={draft.warn_at_percent ?? ""}
          onChange={(e) => setDraft({ ...draft, warn_at_percent: minutesOf(e.target.value) ?? undefined })}
        />
      </label>
      <DraftButtons label="Save SLA" changed={changed} discard={discard} />
    </form>
  );
}
