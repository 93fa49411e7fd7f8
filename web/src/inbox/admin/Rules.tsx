// The routing rules as a form: each rule's conditions (all must hold; the values of one
// condition: any of them) and what it does, in the order they are checked, and the team
// of a ticket no rule gives one. The whole document is sent back on Save, where the API's
// validation names the rule and field at fault.

import { useEffect, useState } from "react";
import { type Schemas } from "../api/client";
import { humanize, PRIORITIES } from "../format";
import { DraftButtons, freshId, ItemButtons, moved, Options, replaced, splitList, useDraft } from "./common";

type Settings = Schemas["RoutingSettings"];
type Rule = Schemas["Rule"];
type Condition = Schemas["Condition"];
type Field = Condition["field"];

const FIELDS: { field: Field; label: string; hint: string }[] = [
  { field: "words", label: "Words", hint: "words or phrases in the subject, the summary or the messages" },
  { field: "tags", label: "Tag", hint: "one of the ticket's tags" },
  { field: "channel", label: "Channel", hint: "whatsapp, instagram, email, widget" },
  { field: "priority", label: "Priority", hint: "urgent, high, normal, low" },
  { field: "handoff_reason", label: "Handoff reason", hint: "asked_for_human, no_knowledge, frustrated, …" },
  { field: "customer_attribute", label: "Customer attribute", hint: "the attribute, then its values" },
  { field: "order", label: "Order fact", hint: "fulfilment_status, shipment_status, status, financial_status, currency, number, total" },
  { field: "order_total", label: "Order total at least", hint: "an amount in the order's currency" },
];

/** A condition in words. */
export function conditionText(c: Condition): string {
  switch (c.field) {
    case "order_total":
      return `the order's total is at least ${c.at_least}`;
    case "customer_attribute":
      return `the customer's ${c.key} is ${c.any.join(" or ")}`;
    case "order":
      return `the order's ${humanize(c.fact)} is ${c.any.join(" or ")}`;
    case "words":
      return `the ticket mentions ${c.any.map((w) => `"${w}"`).join(" or ")}`;
    default:
      return `${humanize(c.field)} is ${c.any.join(" or ")}`;
  }
}

export function conditionsText(cs: Condition[] | undefined): string {
  return cs && cs.length ? cs.map(conditionText).join(", and ") : "every ticket";
}

export function blank(field: Field): Condition {
  switch (field) {
    case "order_total":
      return { field, at_least: "" };
    case "customer_attribute":
      return { field, key: "", any: [] };
    case "order":
      return { field, fact: "", any: [] };
    default:
      return { field, any: [] } as Condition;
  }
}

/** One condition's inputs; the values are typed comma-separated. */
function ConditionRow({ c, rule, onChange, onRemove }: { c: Condition; rule: string; onChange: (c: Condition) => void; onRemove: () => void }) {
  // The values are kept as typed (a trailing comma included) and parsed as they change.
  const listed = "any" in c ? c.any : [];
  const [values, setValues] = useState(listed.join(", "));
  // Another condition now in this row (one above was removed): show its values.
  useEffect(() => {
    if (splitList(values).join("\n") !== listed.join("\n")) setValues(listed.join(", "));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [c]);
  const hint = FIELDS.find((f) => f.field === c.field)?.hint ?? "";
  return (
    <div className="condition row">
      <select aria-label={`Condition of ${rule}`} value={c.field} onChange={(e) => (setValues(""), onChange(blank(e.target.value as Field)))}>
        {FIELDS.map((f) => (
          <option key={f.field} value={f.field}>
            {f.label}
          </option>
        ))}
      </select>
      {c.field === "customer_attribute" && <input aria-label={`Attribute of ${rule}`} placeholder="plan" value={c.key} onChange={(e) => onChange({ ...c, key: e.target.value })} />}
      {c.field === "order" && <input aria-label={`Order fact of ${rule}`} placeholder="shipment_status" value={c.fact} onChange={(e) => onChange({ ...c, fact: e.target.value })} />}
      {c.field === "order_total" ? (
        <input aria-label={`Amount of ${rule}`} inputMode="decimal" placeholder="100.00" value={c.at_least} onChange={(e) => onChange({ ...c, at_least: e.target.value })} />
      ) : (
        <input
          aria-label={`Values of ${rule}`}
          placeholder={hint}
          title={hint}
          value={values}
          onChange={(e) => {
            setValues(e.target.value);
            onChange({ ...c, any: splitList(e.target.value) } as Condition);
          }}
        />
      )}
      <button type="button" aria-label={`Remove condition of ${rule}`} onClick={onRemove}>
        ✕
      </button>
    </div>
  );
}

/** The conditions of a rule or an SLA policy (`owner` names it to screen readers). */
export function ConditionsEditor({ conditions, owner, onChange }: { conditions: Condition[]; owner: string; onChange: (cs: Condition[]) => void }) {
  const set = (i: number, c: Condition | null) => onChange(replaced(conditions, i, c));
  return (
    <>
      <p className="muted">When {conditionsText(conditions)}:</p>
      {conditions.map((c, i) => (
        // The index is the condition's identity: conditions have no id of their own.
        <ConditionRow key={`${i}-${c.field}`} c={c} rule={owner} onChange={(c) => set(i, c)} onRemove={() => set(i, null)} />
      ))}
      <button type="button" onClick={() => onChange([...conditions, blank("words")])}>
        Add condition
      </button>
    </>
  );
}

function RuleEditor(props: { rule: Rule; teams: { id: string; name: string }[]; first: boolean; last: boolean; onChange: (r: Rule) => void; onMove: (by: -1 | 1) => void; onRemove: () => void }) {
  const { rule: r, onChange } = props;
  const [tags, setTags] = useState((r.actions.add_tags ?? []).join(", "));
  return (
    <li className="rule-editor" aria-label={`Rule ${r.name || r.id}`}>
      <div className="row">
        <input aria-label="Rule name" className="name" value={r.name} onChange={(e) => onChange({ ...r, name: e.target.value })} />
        <ItemButtons name={r.name} first={props.first} last={props.last} onMove={props.onMove} onRemove={props.onRemove} />
      </div>
      <ConditionsEditor conditions={r.conditions ?? []} owner={r.name} onChange={(conditions) => onChange({ ...r, conditions })} />
      <div className="row actions">
        <label>
          Team
          <select aria-label={`Team of ${r.name}`} value={r.actions.team ?? ""} onChange={(e) => onChange({ ...r, actions: { ...r.actions, team: e.target.value || null } })}>
            <option value="">keep</option>
            <Options items={props.teams} />
          </select>
        </label>
        <label>
          Priority
          <select aria-label={`Priority of ${r.name}`} value={r.actions.priority ?? ""} onChange={(e) => onChange({ ...r, actions: { ...r.actions, priority: e.target.value || null } })}>
            <option value="">keep</option>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label>
          Add tags
          <input
            aria-label={`Tags of ${r.name}`}
            value={tags}
            onChange={(e) => {
              setTags(e.target.value);
              onChange({ ...r, actions: { ...r.actions, add_tags: splitList(e.target.value) } });
            }}
          />
        </label>
      </div>
    </li>
  );
}

/** The rules form over `value` (what GET returned); `onSave` sends the edited document. */
export function RulesForm({ value, teams, onSave }: { value: Settings; teams: { id: string; name: string }[]; onSave: (v: Settings) => Promise<boolean> }) {
  const { draft, setDraft, round, changed, discard } = useDraft(value);
  const rules = draft.rules ?? [];
  const setRules = (next: Rule[]) => setDraft({ ...draft, rules: next });
  return (
    <form
      aria-label="Routing rules form"
      className="rules-form"
      onSubmit={(e) => {
        e.preventDefault();
        void onSave(draft);
      }}
    >
      <ol className="rules">
        {rules.map((r, i) => (
          <RuleEditor
            key={`${round}-${r.id}`}
            rule={r}
            teams={teams}
            first={i === 0}
            last={i === rules.length - 1}
            onChange={(next) => setRules(replaced(rules, i, next))}
            onMove={(by) => setRules(moved(rules, i, by))}
            onRemove={() => setRules(replaced(rules, i, null))}
          />
        ))}
      </ol>
      <button type="button" onClick={() => setRules([...rules, { id: freshId(rules, "rule"), name: "New rule", conditions: [blank("words")], actions: { add_tags: [] } }])}>
        Add rule
      </button>
      <label>
        Otherwise (no rule gives a team)
        <select aria-label="Default team" value={draft.default_team ?? ""} onChange={(e) => setDraft({ ...draft, default_team: e.target.value || null })}>
          <option value="">no team</option>
          <Options items={teams} />
        </select>
      </label>
      <DraftButtons label="Save rules" changed={changed} discard={discard} />
    </form>
  );
}
