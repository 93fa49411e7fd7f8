// The tenant's settings: routing rules (with the router's own explanation for a sample
// ticket), SLA policies and calendars, the AI (with an answer preview beside it), and the
// channel connections with their health. Rules and policies are edited as the JSON the
// API takes (its validation names the field at fault); each is summed up in words above.

import { useCallback, useEffect, useState } from "react";
import { type Api, type Channel, describe, ok, type Schemas } from "../api/client";
import { CHANNEL_LABEL, ago, humanize } from "../format";
import { percent, splitList, Status, useLoad, useSave } from "./common";

type Condition = Schemas["Condition"];

function conditionText(c: Condition): string {
  const any = (c as { any?: string[] }).any ?? [];
  return `${humanize(c.field)} is ${any.join(" or ")}`;
}

function conditionsText(cs: Condition[] | undefined): string {
  return cs && cs.length ? cs.map(conditionText).join(", and ") : "every ticket";
}

/** A settings document edited as JSON: what GET returns, sent back whole by PUT. */
function JsonEditor<T>({ label, value, onSave }: { label: string; value: T; onSave: (v: T) => Promise<boolean> }) {
  const [text, setText] = useState(() => JSON.stringify(value, null, 2));
  const [parseError, setParseError] = useState<string | null>(null);
  useEffect(() => setText(JSON.stringify(value, null, 2)), [value]);
  return (
    <form
      className="json-editor"
      onSubmit={(e) => {
        e.preventDefault();
        let parsed: T;
        try {
          parsed = JSON.parse(text) as T;
        } catch (err) {
          setParseError(`Not valid JSON: ${(err as Error).message}`);
          return;
        }
        setParseError(null);
        void onSave(parsed);
      }}
    >
      <label>
        {label}
        <textarea spellCheck={false} rows={16} value={text} onChange={(e) => setText(e.target.value)} />
      </label>
      {parseError && <p className="error">{parseError}</p>}
      <button type="submit" className="primary">
        Save
      </button>
    </form>
  );
}

export function Routing({ api, teamName }: { api: Api; teamName: (id: string) => string }) {
  const rules = useLoad(useCallback(() => ok(api.GET("/v1/routing/rules")), [api]));
  const save = useSave();
  const [sample, setSample] = useState({ text: "", subject: "", channel: "" as "" | Channel, priority: "", tags: "", handoff_reason: "" });
  const [explained, setExplained] = useState<Schemas["Explanation"] | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);

  const preview = async () => {
    try {
      const body = {
        text: sample.text || null,
        subject: sample.subject || null,
        channel: sample.channel || null,
        priority: sample.priority || null,
        tags: splitList(sample.tags),
        handoff_reason: sample.handoff_reason || null,
      };
      setExplained(await ok(api.POST("/v1/routing/preview", { body })));
      setPreviewError(null);
    } catch (e) {
      setPreviewError(describe(e as Error));
    }
  };

  return (
    <div className="routing split">
      <section className="card" aria-label="Routing rules">
        <header>
          <h2>Routing rules</h2>
        </header>
        {rules.error && <p className="error">{rules.error}</p>}
        {rules.data && (
          <>
            <ol className="rules">
              {(rules.data.rules ?? []).map((r) => (
                <li key={r.id}>
                  <strong>{r.name}</strong>: when {conditionsText(r.conditions)},{" "}
                  {[
                    r.actions.team ? `to ${teamName(r.actions.team)}` : null,
                    r.actions.priority ? `priority ${r.actions.priority}` : null,
                    r.actions.add_tags?.length ? `tag ${r.actions.add_tags.join(", ")}` : null,
                  ]
                    .filter(Boolean)
                    .join("; ") || "nothing"}
                </li>
              ))}
              <li className="muted">Otherwise: {rules.data.default_team ? teamName(rules.data.default_team) : "no team"}.</li>
            </ol>
            <JsonEditor
              label="Rules (checked in order; the first that matches applies)"
              value={rules.data}
              onSave={(v) => save.run("Routing rules", async () => ok(api.PUT("/v1/routing/rules", { body: v })).then(rules.reload))}
            />
            <Status message={save.message} failed={save.failed} />
          </>
        )}
      </section>
      <section className="card" aria-label="Routing preview">
        <header>
          <h2>Preview</h2>
          <span className="muted">Where a ticket like this would go, and why. Nothing is stored.</span>
        </header>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void preview();
          }}
        >
          <label>
            Customer's message
            <textarea aria-label="Sample message" rows={3} value={sample.text} onChange={(e) => setSample({ ...sample, text: e.target.value })} />
          </label>
          <label>
            Subject
            <input aria-label="Sample subject" value={sample.subject} onChange={(e) => setSample({ ...sample, subject: e.target.value })} />
          </label>
          <div className="row">
            <select aria-label="Sample channel" value={sample.channel} onChange={(e) => setSample({ ...sample, channel: e.target.value as "" | Channel })}>
              <option value="">any channel</option>
              {Object.entries(CHANNEL_LABEL).map(([k, v]) => (
                <option key={k} value={k}>
                  {v}
                </option>
              ))}
            </select>
            <select aria-label="Sample priority" value={sample.priority} onChange={(e) => setSample({ ...sample, priority: e.target.value })}>
              <option value="">normal priority</option>
              {["urgent", "high", "low"].map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
            <input aria-label="Sample tags" placeholder="tags" value={sample.tags} onChange={(e) => setSample({ ...sample, tags: e.target.value })} />
          </div>
          <button type="submit">Explain</button>
        </form>
        {previewError && <p className="error">{previewError}</p>}
        {explained && (
          <div className="explanation" aria-label="Routing explanation">
            <p>
              <strong>Team:</strong> {explained.team ? teamName(explained.team) : "none"}. {explained.team_reason}
            </p>
            {explained.rule && (
              <p>
                <strong>Rule:</strong> {explained.rule.name}
              </p>
            )}
            <p>
              <strong>Agent:</strong> {explained.why}
            </p>
            <ul className="candidates">
              {explained.candidates.map((c) => (
                <li key={c.agent} className={c.agent === explained.winner ? "winner" : undefined}>
                  {c.agent}: {c.open}/{c.max_open} open{c.presence ? `, ${c.presence}` : ""}
                  {c.matched_skills?.length ? `, skills ${c.matched_skills.join(", ")}` : ""}
                </li>
              ))}
            </ul>
          </div>
        )}
      </section>
    </div>
  );
}

export function Sla({ api }: { api: Api }) {
  const sla = useLoad(useCallback(() => ok(api.GET("/v1/sla")), [api]));
  const save = useSave();
  const minutes = (m: number | null | undefined) => (m ? (m % 60 === 0 ? `${m / 60} h` : `${m} min`) : "–");
  return (
    <section className="card sla-settings" aria-label="SLA policies">
      <header>
        <h2>SLA policies and calendars</h2>
      </header>
      {sla.error && <p className="error">{sla.error}</p>}
      {sla.data && (
        <>
          <table className="data">
            <thead>
              <tr>
                <th>Policy</th>
                <th>Applies to</th>
                <th>First response</th>
                <th>Next response</th>
                <th>Resolution</th>
                <th>Hours</th>
              </tr>
            </thead>
            <tbody>
              {(sla.data.policies ?? []).map((p) => (
                <tr key={p.id}>
                  <th scope="row">{p.name}</th>
                  <td>{conditionsText(p.conditions)}</td>
                  <td>{minutes(p.targets.first_response_minutes)}</td>
                  <td>{minutes(p.targets.next_response_minutes)}</td>
                  <td>{minutes(p.targets.resolution_minutes)}</td>
                  <td>{p.calendar ? ((sla.data!.calendars ?? []).find((c) => c.id === p.calendar)?.name ?? p.calendar) : "24/7"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <ul className="calendars">
            {(sla.data.calendars ?? []).map((c) => (
              <li key={c.id}>
                <strong>{c.name}</strong> ({c.time_zone}): {c.hours.map((h) => `${humanize(h.day).slice(0, 3)} ${h.from}–${h.to}`).join(", ")}
                {c.holidays?.length ? `; ${c.holidays.length} holidays` : ""}
              </li>
            ))}
          </ul>
          <p className="muted">A target is at risk after {sla.data.warn_at_percent}% of its time.</p>
          <JsonEditor
            label="Policies (the first whose conditions hold applies) and calendars"
            value={sla.data}
            onSave={(v) => save.run("SLA", async () => ok(api.PUT("/v1/sla", { body: v })).then(sla.reload))}
          />
          <Status message={save.message} failed={save.failed} />
        </>
      )}
    </section>
  );
}

export function Ai({ api }: { api: Api }) {
  const settings = useLoad(useCallback(() => ok(api.GET("/v1/ai/settings")), [api]));
  const save = useSave();
  const [form, setForm] = useState<{ persona: string; threshold: string; topics: string } | null>(null);
  const [question, setQuestion] = useState("");
  const [result, setResult] = useState<Schemas["PreviewResult"] | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  useEffect(() => {
    if (settings.data)
      setForm({ persona: settings.data.persona, threshold: String(settings.data.confidence_threshold), topics: settings.data.always_human_topics.join(", ") });
  }, [settings.data]);

  const ask = async () => {
    try {
      setResult(await ok(api.POST("/v1/ai/preview", { body: { text: question } })));
      setPreviewError(null);
    } catch (e) {
      setPreviewError(describe(e as Error));
    }
  };

  return (
    <div className="ai-settings split">
      <section className="card" aria-label="AI settings">
        <header>
          <h2>AI settings</h2>
        </header>
        {settings.error && <p className="error">{settings.error}</p>}
        {form && (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void save.run("AI settings", () =>
                ok(
                  api.PUT("/v1/ai/settings", {
                    body: { persona: form.persona, confidence_threshold: Number(form.threshold), always_human_topics: splitList(form.topics) },
                  }),
                ).then(settings.reload),
              );
            }}
          >
            <label>
              Persona (how the AI introduces itself and writes)
              <textarea rows={5} value={form.persona} onChange={(e) => setForm({ ...form, persona: e.target.value })} />
            </label>
            <label>
              Confidence threshold (below it, a person answers)
              <input type="number" step="0.01" min="0" max="1" value={form.threshold} onChange={(e) => setForm({ ...form, threshold: e.target.value })} />
            </label>
            <label>
              Topics always for a person (comma-separated)
              <input value={form.topics} onChange={(e) => setForm({ ...form, topics: e.target.value })} />
            </label>
            <button type="submit" className="primary" disabled={save.busy}>
              Save
            </button>
            <Status message={save.message} failed={save.failed} />
          </form>
        )}
      </section>
      <section className="card" aria-label="Answer preview">
        <header>
          <h2>Answer preview</h2>
          <span className="muted">What the AI would do with a message now: nothing is sent or stored.</span>
        </header>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void ask();
          }}
        >
          <label>
            A customer writes
            <textarea aria-label="Preview question" rows={3} value={question} onChange={(e) => setQuestion(e.target.value)} />
          </label>
          <button type="submit" disabled={!question.trim()}>
            Preview
          </button>
        </form>
        {previewError && <p className="error">{previewError}</p>}
        {result && (
          <div className={`preview ${result.decision}`} aria-label="Preview result">
            <p>
              <strong>{humanize(result.decision)}</strong> ({humanize(result.reason).toLowerCase()}), confidence {percent(result.confidence)}
            </p>
            {result.answer && <blockquote className="text">{result.answer}</blockquote>}
            {result.citations.length > 0 && (
              <ul className="citations">
                {result.citations.map((c) => (
                  <li key={c.article_id}>
                    {c.title} ({percent(c.score)})
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
      </section>
    </div>
  );
}

function Health({ h }: { h: Schemas["HealthView"] }) {
  return (
    <p className={`health ${h.disconnected ? "down" : "up"}`}>
      {h.disconnected ? "Disconnected: replies wait until the token is renewed." : "Connected."}
      {h.last_success_at && ` Last delivery ${ago(h.last_success_at)}.`}
      {h.last_error && ` Last error ${h.last_error_at ? ago(h.last_error_at) : ""}: ${h.last_error}`}
    </p>
  );
}

export function Channels({ api }: { api: Api }) {
  const channels = useLoad(useCallback(() => ok(api.GET("/v1/channels")), [api]));
  const c = channels.data;
  const origin = window.location.origin;
  return (
    <div className="channels">
      {channels.error && <p className="error">{channels.error}</p>}
      {c && (
        <>
          <section className="card" aria-label="WhatsApp">
            <h2>WhatsApp</h2>
            {c.whatsapp ? (
              <>
                <p>
                  Phone numbers {c.whatsapp.phone_number_ids.join(", ") || "none"}; {c.whatsapp.token_stored ? `own token (updated ${c.whatsapp.token_updated_at ? ago(c.whatsapp.token_updated_at) : "?"})` : "the deployment's token"}.
                  {c.whatsapp.outside_window_template ? ` Outside the 24-hour window: template ${c.whatsapp.outside_window_template.name}.` : " Outside the 24-hour window: no template, replies become follow-ups."}
                </p>
                <Health h={c.whatsapp.health} />
              </>
            ) : (
              <p className="muted">Not connected (PUT /v1/channels/whatsapp).</p>
            )}
          </section>
          <section className="card" aria-label="Instagram">
            <h2>Instagram</h2>
            {c.instagram ? (
              <>
                <p>
                  Account {c.instagram.account_id ?? "?"}; {c.instagram.human_agent_allowed ? "Human Agent permission: people may answer for 7 days." : "no Human Agent permission: people may answer within 24 hours."}
                </p>
                <Health h={c.instagram.health} />
              </>
            ) : (
              <p className="muted">Not connected (PUT /v1/channels/instagram).</p>
            )}
          </section>
          <section className="card" aria-label="E-mail">
            <h2>E-mail</h2>
            {c.email ? (
              <p>
                Customers write to <code>{c.email.inbound_address ?? "?"}</code>; replies come from {c.email.display_name ? `${c.email.display_name} ` : ""}
                <code>{c.email.from_address ?? "the deployment's address"}</code>.
              </p>
            ) : (
              <p className="muted">Not set up.</p>
            )}
          </section>
          <section className="card" aria-label="Website widget">
            <h2>Website widget</h2>
            {c.widget ? (
              <>
                <p>Allowed sites: {c.widget.allowed_origins.join(", ") || "none"}. Add it to a page with:</p>
                <pre className="snippet">{`<script src="${origin}/widget.js" data-widget-key="${c.widget.key}" defer></script>`}</pre>
              </>
            ) : (
              <p className="muted">Not set up.</p>
            )}
          </section>
        </>
      )}
    </div>
  );
}
