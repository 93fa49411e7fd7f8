// The tenant's settings: routing rules (with the router's own explanation for a sample
// ticket), SLA policies and calendars, the AI (with an answer preview beside it), and the
// channel connections with their health, each connected, changed or disconnected here.
// Rules and SLA policies are edited in forms (or as the JSON the API takes).
// The API's validation names the field at fault.

import { type ChangeEvent, type ReactNode, useCallback, useEffect, useState } from "react";
import { type Api, type Channel, describe, ok, type Schemas } from "../api/client";
import { CHANNEL_LABEL, PRIORITIES, ago, humanize } from "../format";
import { percent, splitList, Status, useLoad, useSave } from "./common";
import { conditionsText, RulesForm } from "./Rules";
import { SlaForm } from "./SlaForm";


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

export function Routing({ api, teams, teamName }: { api: Api; teams: { id: string; name: string }[]; teamName: (id: string) => string }) {
  const rules = useLoad(useCallback(() => ok(api.GET("/v1/routing/rules")), [api]));
  const save = useSave();
  const [sample, setSample] = useState({ text: "", subject: "", channel: "" as "" | Channel, priority: "", tags: "", handoff_reason: "" });
  const [explained, setExplained] = useState<Schemas["Explanation"] | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);

  const saveRules = (v: Schemas["RoutingSettings"]) => save.run("Routing rules", async () => ok(api.PUT("/v1/routing/rules", { body: v })).then(rules.reload));

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
            <RulesForm value={rules.data} teams={teams} onSave={saveRules} />
            <Status message={save.message} failed={save.failed} />
            <details>
              <summary>Edit as JSON</summary>
              <JsonEditor label="Rules (checked in order; the first that matches applies)" value={rules.data} onSave={saveRules} />
            </details>
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
              {PRIORITIES.filter((p) => p !== "normal").map((p) => (
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
  const saveSla = (v: Schemas["SlaSettings"]) => save.run("SLA", async () => ok(api.PUT("/v1/sla", { body: v })).then(sla.reload));
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
          <SlaForm value={sla.data} onSave={saveSla} />
          <Status message={save.message} failed={save.failed} />
          <details>
            <summary>Edit as JSON</summary>
            <JsonEditor label="Policies (the first whose conditions hold applies) and calendars" value={sla.data} onSave={saveSla} />
          </details>
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

type ChannelId = "whatsapp" | "instagram" | "email" | "widget";

/** One channel's card: what is connected, and the form that connects or changes it. */
function ChannelCard(props: {
  title: string;
  connected: boolean;
  summary: ReactNode;
  onDisconnect: () => void;
  children: (close: () => void) => ReactNode;
}) {
  const [editing, setEditing] = useState(false);
  return (
    <section className="card" aria-label={props.title}>
      <h2>{props.title}</h2>
      {props.summary}
      {editing ? (
        props.children(() => setEditing(false))
      ) : (
        <div className="row">
          <button type="button" onClick={() => setEditing(true)}>
            {props.connected ? "Change" : "Connect"}
          </button>
          {props.connected && (
            <button type="button" className="danger" onClick={props.onDisconnect}>
              Disconnect
            </button>
          )}
        </div>
      )}
    </section>
  );
}

/** A channel's form: the fields, then Save (the API's validation shown under it) and Cancel. */
function ChannelForm({ label, onSave, close, children }: { label: string; onSave: () => Promise<boolean>; close: () => void; children: ReactNode }) {
  return (
    <form
      aria-label={label}
      onSubmit={async (e) => {
        e.preventDefault();
        if (await onSave()) close();
      }}
    >
      {children}
      <div className="row">
        <button type="submit">Save</button>
        <button type="button" onClick={close}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function Channels({ api }: { api: Api }) {
  const channels = useLoad(useCallback(() => ok(api.GET("/v1/channels")), [api]));
  const save = useSave();
  const c = channels.data;
  const origin = window.location.origin;
  // Every change names the revision it was made from: a change someone made meanwhile is
  // refused (409) and the page shows what is stored now.
  const put = (what: string, change: (revision: number) => Promise<unknown>) =>
    save.run(what, async () => {
      try {
        await change(c?.revision ?? 0);
      } finally {
        channels.reload();
      }
    });
  const disconnect = (id: ChannelId, title: string) => {
    if (!window.confirm(`Disconnect ${title}? Its messages stop reaching this tenant and its settings and token are removed.`)) return;
    void put(title, () => ok(api.DELETE("/v1/channels/{id}", { params: { path: { id } } })));
  };
  const wa = c?.whatsapp;
  const ig = c?.instagram;
  return (
    <div className="channels">
      {channels.error && <p className="error">{channels.error}</p>}
      <Status message={save.message} failed={save.failed} />
      {c && (
        <>
          <ChannelCard
            title="WhatsApp"
            connected={!!wa}
            onDisconnect={() => disconnect("whatsapp", "WhatsApp")}
            summary={
              wa ? (
                <>
                  <p>
                    Phone numbers {wa.phone_number_ids.join(", ") || "none"}; {wa.token_stored ? `own token (updated ${wa.token_updated_at ? ago(wa.token_updated_at) : "?"})` : "the deployment's token"}.
                    {wa.outside_window_template ? ` Outside the 24-hour window: template ${wa.outside_window_template.name}.` : " Outside the 24-hour window: no template, replies become follow-ups."}
                  </p>
                  <Health h={wa.health} />
                </>
              ) : (
                <p className="muted">Not connected.</p>
              )
            }
          >
            {(close) => <WhatsAppForm current={wa ?? null} onSave={(body) => put("WhatsApp", (r) => ok(api.PUT("/v1/channels/whatsapp", { body: { ...body, expected_revision: r } })))} close={close} />}
          </ChannelCard>
          <ChannelCard
            title="Instagram"
            connected={!!ig}
            onDisconnect={() => disconnect("instagram", "Instagram")}
            summary={
              ig ? (
                <>
                  <p>
                    Account {ig.account_id ?? "?"}; {ig.token_stored ? "own token" : "the deployment's token"};{" "}
                    {ig.human_agent_allowed ? "Human Agent permission: people may answer for 7 days." : "no Human Agent permission: people may answer within 24 hours."}
                  </p>
                  <Health h={ig.health} />
                </>
              ) : (
                <p className="muted">Not connected.</p>
              )
            }
          >
            {(close) => <InstagramForm current={ig ?? null} onSave={(body) => put("Instagram", (r) => ok(api.PUT("/v1/channels/instagram", { body: { ...body, expected_revision: r } })))} close={close} />}
          </ChannelCard>
          <ChannelCard
            title="E-mail"
            connected={!!c.email}
            onDisconnect={() => disconnect("email", "E-mail")}
            summary={
              c.email ? (
                <p>
                  Customers write to <code>{c.email.inbound_address ?? "?"}</code>; replies come from {c.email.display_name ? `${c.email.display_name} ` : ""}
                  <code>{c.email.from_address ?? "the deployment's address"}</code>.
                </p>
              ) : (
                <p className="muted">Not set up.</p>
              )
            }
          >
            {(close) => <EmailForm current={c.email ?? null} onSave={(body) => put("E-mail", (r) => ok(api.PUT("/v1/channels/email", { body: { ...body, expected_revision: r } })))} close={close} />}
          </ChannelCard>
          <ChannelCard
            title="Website widget"
            connected={!!c.widget}
            onDisconnect={() => disconnect("widget", "the website widget")}
            summary={
              c.widget ? (
                <>
                  <p>Allowed sites: {c.widget.allowed_origins.join(", ") || "none"}. Add it to a page with:</p>
                  <pre className="snippet">{`<script src="${origin}/widget.js" data-widget-key="${c.widget.key}" defer></script>`}</pre>
                  <button
                    type="button"
                    onClick={() =>
                      window.confirm("Rotate the widget key? Pages with the old key stop working at once, until their script tag has the new one.") &&
                      void put("Widget key", (r) => ok(api.POST("/v1/channels/widget/rotate-key", { body: { expected_revision: r } })))
                    }
                  >
                    Rotate key
                  </button>
                </>
              ) : (
                <p className="muted">Not set up.</p>
              )
            }
          >
            {(close) => <WidgetForm current={c.widget ?? null} onSave={(body) => put("Widget", (r) => ok(api.PUT("/v1/channels/widget", { body: { ...body, expected_revision: r } })))} close={close} />}
          </ChannelCard>
        </>
      )}
    </div>
  );
}

type Save<T> = { onSave: (body: T) => Promise<boolean>; close: () => void };

function WhatsAppForm({ current, onSave, close }: { current: Schemas["WhatsAppView"] | null } & Save<Schemas["WhatsAppBody"]>) {
  const t = current?.outside_window_template;
  const [f, setF] = useState({
    phones: current?.phone_number_ids.join(", ") ?? "",
    account: current?.business_account_id ?? "",
    token: "",
    template: t?.name ?? "",
    language: t?.language ?? "en_US",
    params: (t?.body_parameters ?? ["{text}"]).join(", "),
  });
  const set = (k: keyof typeof f) => (e: ChangeEvent<HTMLInputElement>) => setF({ ...f, [k]: e.target.value });
  const body = (): Schemas["WhatsAppBody"] => ({
    phone_number_ids: splitList(f.phones),
    business_account_id: f.account.trim() || null,
    // Empty keeps the stored token (it is never shown).
    ...(f.token.trim() ? { access_token: f.token.trim() } : {}),
    outside_window_template: f.template.trim() ? { name: f.template.trim(), language: f.language.trim(), body_parameters: splitList(f.params) } : null,
  });
  return (
    <ChannelForm label="WhatsApp connection" onSave={() => onSave(body())} close={close}>
      <label>
        Phone number ids (WhatsApp Manager; comma-separated)
        <input required value={f.phones} onChange={set("phones")} />
      </label>
      <label>
        Business account id
        <input value={f.account} onChange={set("account")} />
      </label>
      <label>
        Access token {current?.token_stored ? "(stored; leave empty to keep it)" : "(empty: the deployment's)"}
        <input type="password" autoComplete="off" value={f.token} onChange={set("token")} />
      </label>
      <label>
        Template outside the 24-hour window (approved name; empty: replies become follow-ups)
        <input value={f.template} onChange={set("template")} />
      </label>
      {f.template.trim() && (
        <>
          <label>
            Template language
            <input required value={f.language} onChange={set("language")} />
          </label>
          <label>
            Body parameters ({"{text}"}: the reply, {"{ticket}"}: the ticket number)
            <input value={f.params} onChange={set("params")} />
          </label>
        </>
      )}
    </ChannelForm>
  );
}

function InstagramForm({ current, onSave, close }: { current: Schemas["InstagramView"] | null } & Save<Schemas["InstagramBody"]>) {
  const [f, setF] = useState({ account: current?.account_id ?? "", token: "", humanAgent: current?.human_agent_allowed ?? false });
  return (
    <ChannelForm
      label="Instagram connection"
      onSave={() => onSave({ account_id: f.account.trim() || null, human_agent_allowed: f.humanAgent, ...(f.token.trim() ? { access_token: f.token.trim() } : {}) })}
      close={close}
    >
      <label>
        Professional account id
        <input required value={f.account} onChange={(e) => setF({ ...f, account: e.target.value })} />
      </label>
      <label>
        Access token {current?.token_stored ? "(stored; leave empty to keep it)" : "(Instagram Login token; empty: the deployment's)"}
        <input type="password" autoComplete="off" value={f.token} onChange={(e) => setF({ ...f, token: e.target.value })} />
      </label>
      <label className="check">
        <input type="checkbox" checked={f.humanAgent} onChange={(e) => setF({ ...f, humanAgent: e.target.checked })} />
        The app has Meta's Human Agent permission (people may answer for 7 days)
      </label>
    </ChannelForm>
  );
}

function EmailForm({ current, onSave, close }: { current: Schemas["EmailView"] | null } & Save<Schemas["EmailBody"]>) {
  const [f, setF] = useState({ slug: current?.slug ?? "", from: current?.from_address ?? "", name: current?.display_name ?? "" });
  return (
    <ChannelForm
      label="E-mail settings"
      onSave={() => onSave({ slug: f.slug.trim() || null, from_address: f.from.trim() || null, display_name: f.name.trim() || null })}
      close={close}
    >
      <label>
        Address name (customers write to support+<i>name</i>@…)
        <input required value={f.slug} onChange={(e) => setF({ ...f, slug: e.target.value })} />
      </label>
      <label>
        Replies come from (a domain verified in SES; empty: the deployment's address)
        <input type="email" value={f.from} onChange={(e) => setF({ ...f, from: e.target.value })} />
      </label>
      <label>
        Sender name
        <input value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} />
      </label>
    </ChannelForm>
  );
}

function WidgetForm({ current, onSave, close }: { current: Schemas["WidgetView"] | null } & Save<Schemas["WidgetBody"]>) {
  const [origins, setOrigins] = useState((current?.allowed_origins ?? [window.location.origin]).join(", "));
  return (
    <ChannelForm label="Widget settings" onSave={() => onSave({ allowed_origins: splitList(origins) })} close={close}>
      <label>
        Sites that may embed it (https://shop.example, comma-separated)
        <input required value={origins} onChange={(e) => setOrigins(e.target.value)} />
      </label>
    </ChannelForm>
  );
}
