// The reports: the AI's part (involvement, resolutions with their claw-backs, handoffs by
// reason), team performance, the knowledge gaps and the recurring topics, for any range
// of the tenant's days, with the API's own CSV for the first two.

import { useCallback, useState } from "react";
import { type Api, ok, type Schemas } from "../api/client";
import { CHANNEL_LABEL, humanize } from "../format";
import { BarChart, duration, percent, Sparkline, useLoad } from "./common";

type AiReport = Schemas["Report_AiRow"];
type TeamReport = Schemas["Report_TeamRow"];
type By = "channel" | "team" | "agent";

export interface Range {
  from: string;
  to: string;
}

/** A report as JSON (the same path answers CSV when asked; JSON is asked here). */
function json<T>(data: T | string): T {
  if (typeof data === "string") throw new Error("The report came as text, not JSON.");
  return data;
}

function query(range: Range): Record<string, string> {
  const q: Record<string, string> = {};
  if (range.from) q.from = range.from;
  if (range.to) q.to = range.to;
  return q;
}

/** A slice's name: `channel:whatsapp` → WhatsApp, `agent:…` → the agent's name. */
function sliceName(slice: string, name: (id: string) => string): string {
  const [kind, id] = slice.split(/:(.*)/s);
  if (slice === "all") return "Total";
  if (kind === "channel") return CHANNEL_LABEL[id] ?? id;
  if (kind === "agent") return name(id);
  return id ?? slice;
}

/** Downloads the report's CSV as the API writes it (rows, then the total). */
async function downloadCsv(api: Api, which: "ai" | "team", range: Range, by: By) {
  const path = which === "ai" ? "/v1/reports/ai" : "/v1/reports/team";
  const csv = await ok(api.GET(path, { params: { query: { ...query(range), by, format: "csv" } }, parseAs: "text" }));
  const url = URL.createObjectURL(new Blob([String(csv)], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = `baton-${which}-by-${by}-${range.from || "start"}-${range.to || "today"}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function Reports({ api, name, onDraft }: { api: Api; name: (id: string) => string; onDraft: (gap: string) => void }) {
  const [range, setRange] = useState<Range>({ from: "", to: "" });
  const [by, setBy] = useState<By>("agent");
  const [csvError, setCsvError] = useState<string | null>(null);
  const ai = useLoad(useCallback(() => ok(api.GET("/v1/reports/ai", { params: { query: { ...query(range), by: "channel" } } })).then(json), [api, range]));
  const team = useLoad(useCallback(() => ok(api.GET("/v1/reports/team", { params: { query: { ...query(range), by } } })).then(json), [api, range, by]));
  const gaps = useLoad(useCallback(() => ok(api.GET("/v1/reports/gaps", { params: { query: { ...query(range), limit: 20 } } })), [api, range]));
  const topics = useLoad(useCallback(() => ok(api.GET("/v1/reports/topics", { params: { query: { ...query(range), limit: 20 } } })), [api, range]));
  const csv = (which: "ai" | "team", slices: By) => downloadCsv(api, which, range, slices).then(() => setCsvError(null), (e: Error) => setCsvError(e.message));

  return (
    <div className="reports">
      <form className="range" onSubmit={(e) => e.preventDefault()}>
        <label>
          From <input type="date" aria-label="From" value={range.from} onChange={(e) => setRange({ ...range, from: e.target.value })} />
        </label>
        <label>
          To <input type="date" aria-label="To" value={range.to} onChange={(e) => setRange({ ...range, to: e.target.value })} />
        </label>
        {ai.data && (
          <span className="muted">
            {ai.data.from} to {ai.data.to} ({ai.data.time_zone}){ai.data.provisional_from ? `; from ${ai.data.provisional_from} still counting` : ""}
          </span>
        )}
      </form>
      {csvError && <p className="error">{csvError}</p>}

      <section aria-label="AI report" className="card">
        <header>
          <h2>AI</h2>
          <button type="button" onClick={() => csv("ai", "channel")}>
            Export AI CSV
          </button>
        </header>
        {ai.error && <p className="error">{ai.error}</p>}
        {ai.data && <AiSection report={ai.data} />}
      </section>

      <section aria-label="Team performance" className="card">
        <header>
          <h2>Team performance</h2>
          <label>
            By{" "}
            <select aria-label="Team report by" value={by} onChange={(e) => setBy(e.target.value as By)}>
              <option value="agent">agent</option>
              <option value="team">team</option>
              <option value="channel">channel</option>
            </select>
          </label>
          <button type="button" onClick={() => csv("team", by)}>
            Export team CSV
          </button>
        </header>
        {team.error && <p className="error">{team.error}</p>}
        {team.data && <TeamSection report={team.data} name={name} />}
      </section>

      <section aria-label="Knowledge gaps" className="card">
        <header>
          <h2>Knowledge gaps</h2>
          <span className="muted">Questions the AI could not answer, grouped by meaning, by the conversations they sent to a person.</span>
        </header>
        {gaps.error && <p className="error">{gaps.error}</p>}
        {gaps.data && (
          <table className="data gaps">
            <thead>
              <tr>
                <th>Question</th>
                <th>Handed off</th>
                <th>Asked</th>
                <th>Handoff rate</th>
                <th>Trend</th>
                <th>Before / after its article</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {gaps.data.items.length === 0 && (
                <tr>
                  <td colSpan={7} className="empty">
                    No gaps in this range.
                  </td>
                </tr>
              )}
              {gaps.data.items.map((g) => (
                <tr key={g.id} data-gap={g.id}>
                  <td>
                    <strong>{g.label}</strong>
                    {g.samples.length > 1 && <div className="muted">also: {g.samples.slice(1, 3).join(" · ")}</div>}
                  </td>
                  <td>{g.conversations}</td>
                  <td>{g.asked}</td>
                  <td>{percent(g.handoff_rate)}</td>
                  <td>
                    <Sparkline values={g.weeks.map((w) => w.gaps)} label={`${g.label}: handoffs by week`} /> {g.trend}
                  </td>
                  <td>{g.covered ? `${percent(g.before.handoff_rate)} → ${percent(g.after.handoff_rate)}` : "no article yet"}</td>
                  <td>
                    <button type="button" onClick={() => onDraft(g.id)}>
                      Draft an article
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-label="Recurring topics" className="card">
        <header>
          <h2>Recurring topics</h2>
        </header>
        {topics.error && <p className="error">{topics.error}</p>}
        {topics.data && (
          <>
            <table className="data topics">
              <thead>
                <tr>
                  <th>Topic</th>
                  <th>Tickets</th>
                  <th>Weeks</th>
                  <th>Trend</th>
                </tr>
              </thead>
              <tbody>
                {topics.data.items.length === 0 && (
                  <tr>
                    <td colSpan={4} className="empty">
                      No tickets in this range.
                    </td>
                  </tr>
                )}
                {topics.data.items.map((t) => (
                  <tr key={t.id}>
                    <td>
                      {t.label}
                      {t.spike && <span className="badge spike">spike</span>}
                    </td>
                    <td>{t.tickets}</td>
                    <td>
                      <Sparkline values={t.weeks.map((w) => w.tickets)} label={`${t.label}: by week`} />
                    </td>
                    <td>{t.trend}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {topics.data.tags.length > 0 && (
              <BarChart title="Tags on new tickets" bars={topics.data.tags.map((t) => ({ label: t.tag, value: t.tickets }))} />
            )}
          </>
        )}
      </section>
    </div>
  );
}

function AiSection({ report }: { report: AiReport }) {
  const t = report.total;
  const reasons = Object.entries(t.handoff_reasons ?? {})
    .map(([k, v]) => ({ label: humanize(k), value: Number(v) }))
    .sort((a, b) => b.value - a.value);
  return (
    <>
      <dl className="kpis">
        <div>
          <dt>Conversations</dt>
          <dd data-kpi="conversations">{t.conversations}</dd>
        </div>
        <div>
          <dt>AI involvement</dt>
          <dd data-kpi="involvement_rate">{percent(t.involvement_rate)}</dd>
        </div>
        <div>
          <dt>AI resolution rate</dt>
          <dd data-kpi="ai_resolution_rate">{percent(t.ai_resolution_rate)}</dd>
          <dd className="muted">
            {t.ai_resolutions} resolved ({t.confirmed_resolutions} confirmed, {t.assumed_resolutions} assumed, {t.clawed_back} clawed back)
          </dd>
        </div>
        <div>
          <dt>Handoff rate</dt>
          <dd data-kpi="handoff_rate">{percent(t.handoff_rate)}</dd>
        </div>
        <div>
          <dt>Answer CSAT</dt>
          <dd>{percent(t.answer_csat.score)}</dd>
          <dd className="muted">{t.answer_csat.responses} responses</dd>
        </div>
        <div>
          <dt>Human CSAT</dt>
          <dd>{percent(t.human_csat.score)}</dd>
          <dd className="muted">{t.human_csat.responses} responses</dd>
        </div>
      </dl>
      <div className="charts">
        <figure>
          <figcaption>Handoffs by reason</figcaption>
          <BarChart title="Handoffs by reason" bars={reasons} />
        </figure>
        <figure>
          <figcaption>AI resolution rate by channel</figcaption>
          <BarChart
            title="AI resolution rate by channel"
            bars={report.items
              .filter((r) => r.ai_conversations > 0)
              .map((r) => ({ label: CHANNEL_LABEL[r.slice.replace("channel:", "")] ?? r.slice, value: r.ai_resolution_rate ?? 0, text: percent(r.ai_resolution_rate) }))}
          />
        </figure>
      </div>
    </>
  );
}

function TeamSection({ report, name }: { report: TeamReport; name: (id: string) => string }) {
  const rows = [...report.items.filter((r) => r.resolved > 0 || r.assignments > 0 || r.human_replies > 0), report.total];
  const targets = ["first_response", "next_response", "resolution"];
  return (
    <>
      <table className="data team">
        <thead>
          <tr>
            <th />
            <th>Resolved</th>
            <th>First response (median / p90)</th>
            <th>… in business hours</th>
            <th>Resolution (median / p90)</th>
            <th>… in business hours</th>
            {targets.map((t) => (
              <th key={t}>SLA {humanize(t).toLowerCase()}</th>
            ))}
            <th>CSAT</th>
            <th>Reopen rate</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.slice} className={r.slice === "all" ? "total" : undefined} data-slice={r.slice}>
              <th scope="row">{sliceName(r.slice, name)}</th>
              <td>{r.resolved}</td>
              <td>
                {duration(r.first_response.median_secs)} / {duration(r.first_response.p90_secs)}
              </td>
              <td>
                {duration(r.first_response_business.median_secs)} / {duration(r.first_response_business.p90_secs)}
              </td>
              <td>
                {duration(r.resolution.median_secs)} / {duration(r.resolution.p90_secs)}
              </td>
              <td>
                {duration(r.resolution_business.median_secs)} / {duration(r.resolution_business.p90_secs)}
              </td>
              {targets.map((t) => (
                <td key={t}>{percent(r.sla[t]?.attainment)}</td>
              ))}
              <td>
                {percent(r.csat.score)}
                {r.csat.responses ? ` (${r.csat.responses})` : ""}
              </td>
              <td>{percent(r.reopen_rate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <figure>
        <figcaption>Median first response</figcaption>
        <BarChart
          title="Median first response"
          bars={report.items
            .filter((r) => r.first_response.median_secs !== null && r.first_response.median_secs !== undefined)
            .map((r) => ({ label: sliceName(r.slice, name), value: r.first_response.median_secs ?? 0, text: duration(r.first_response.median_secs) }))}
        />
      </figure>
    </>
  );
}
