// One ticket: its thread, what the agent can do, and its facts.
//
// Versions: the pane shows the ticket as the agent last read it (`seen`), and every
// action sends that version. Polling fetches the ticket as it is (`latest`); when it
// moved on, a banner says what changed, and the agent chooses when to read it. An action
// on a stale version comes back `409`: the agent is shown what changed and confirms
// before anything is sent, so nobody answers over a colleague's reply unawares.

import { useCallback, useEffect, useRef, useState } from "react";
import { type Api, ApiFailure, type Detail, describe, type Entry, ok, type Priority, type Status, type TicketRow } from "./api/client";
import type { Session } from "./auth";
import type { Directory } from "./App";
import { changesSince } from "./changes";
import { Options } from "./admin/common";
import { CHANNEL_LABEL, PRIORITIES, STATUS_LABEL, ago, author, clock, describeEvent, humanize, untilDue } from "./format";

const DETAIL_POLL_MS = 3000;

type Action = (version: number) => Promise<unknown>;

interface Conflict {
  what: string;
  changes: string[];
  retry: () => void;
}

export function TicketPane(props: {
  api: Api;
  number: number;
  session: Session;
  directory: Directory;
  onChanged: () => void;
  onBack: () => void;
  onOpen: (n: number) => void;
}) {
  const { api, number, session, directory, onChanged } = props;
  const [seen, setSeen] = useState<Detail | null>(null);
  const [latest, setLatest] = useState<Detail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [mode, setMode] = useState<"reply" | "note">("reply");
  const [draft, setDraft] = useState("");
  const composer = useRef<HTMLTextAreaElement>(null);

  // The whole thread, a page of 100 entries at a time (at most 2,000 shown).
  const fetchDetail = useCallback(async () => {
    const first = await ok(api.GET("/v1/tickets/{number}", { params: { path: { number } } }));
    let cursor = first.thread_next_cursor;
    for (let pages = 1; cursor && pages < 20; pages++) {
      const next = await ok(api.GET("/v1/tickets/{number}", { params: { path: { number }, query: { thread_cursor: cursor } } }));
      first.thread.push(...next.thread);
      cursor = next.thread_next_cursor;
    }
    return first;
  }, [api, number]);

  useEffect(() => {
    let live = true;
    fetchDetail()
      .then((d) => {
        if (!live) return;
        setSeen(d);
        setLatest(d);
      })
      .catch((e: Error) => live && setError(describe(e)));
    const t = window.setInterval(() => {
      fetchDetail()
        .then((d) => {
          if (!live) return;
          setLatest(d);
          // The same version: nothing the agent acts on changed (delivery states, the
          // reply window move on), so the view follows without asking.
          setSeen((s) => (s && s.ticket.version === d.ticket.version ? d : s));
        })
        .catch(() => {});
    }, DETAIL_POLL_MS);
    return () => {
      live = false;
      window.clearInterval(t);
    };
  }, [fetchDetail]);

  /** An attachment's bytes, through a short-lived link the API signs. */
  const download = useCallback(
    async (entry: string, index: number) => {
      try {
        const link = await ok(api.GET("/v1/tickets/{number}/entries/{id}/attachments/{index}", { params: { path: { number, id: entry, index } } }));
        window.open(link.url, "_blank", "noopener");
      } catch (e) {
        setError(describe(e as Error));
      }
    },
    [api, number],
  );

  const readLatest = useCallback(() => {
    if (latest) setSeen(latest);
  }, [latest]);

  /** Runs an action on the version the agent read; on a conflict, shows what changed first. */
  const act = useCallback(
    async (what: string, action: Action, version?: number): Promise<boolean> => {
      if (!seen) return false;
      setBusy(true);
      setError(null);
      try {
        await action(version ?? seen.ticket.version);
        const fresh = await fetchDetail();
        setSeen(fresh);
        setLatest(fresh);
        onChanged();
        return true;
      } catch (e) {
        if (e instanceof ApiFailure && e.conflict) {
          const fresh = await fetchDetail().catch(() => null);
          if (fresh) {
            setLatest(fresh);
            setConflict({
              what,
              changes: changesSince(seen, fresh, directory.name),
              retry: () => {
                setConflict(null);
                setSeen(fresh);
                void act(what, action, fresh.ticket.version).then((done) => done && what === "send" && setDraft(""));
              },
            });
          }
        } else {
          setError(describe(e as Error));
        }
        return false;
      } finally {
        setBusy(false);
      }
    },
    [seen, fetchDetail, onChanged, directory.name],
  );

  const send = useCallback(async () => {
    const text = draft.trim();
    if (!text) return;
    const path = { params: { path: { number } } };
    const done = await act("send", (version) =>
      mode === "reply"
        ? ok(api.POST("/v1/tickets/{number}/replies", { ...path, body: { version, text } }))
        : ok(api.POST("/v1/tickets/{number}/notes", { ...path, body: { version, text } })),
    );
    if (done) setDraft("");
  }, [draft, mode, act, api, number]);

  const path = { params: { path: { number } } };
  const patch = (body: { status?: Status; priority?: Priority; tags?: string[]; team?: string }) =>
    act("change", (version) => ok(api.PATCH("/v1/tickets/{number}", { ...path, body: { ...body, version } })));
  const simple = (route: "takeover" | "reopen" | "close" | "force-close" | "return-to-ai") =>
    act(route, (version) => {
      switch (route) {
        case "takeover":
          return ok(api.POST("/v1/tickets/{number}/takeover", { ...path, body: { version } }));
        case "reopen":
          return ok(api.POST("/v1/tickets/{number}/reopen", { ...path, body: { version } }));
        case "close":
          return ok(api.POST("/v1/tickets/{number}/close", { ...path, body: { version } }));
        case "force-close":
          return ok(api.POST("/v1/tickets/{number}/force-close", { ...path, body: { version } }));
        case "return-to-ai":
          return ok(api.POST("/v1/tickets/{number}/return-to-ai", { ...path, body: { version } }));
      }
    });
  const assign = (agentId: string | null) =>
    act("assign", (version) => ok(api.POST("/v1/tickets/{number}/assign", { ...path, body: { version, agent_id: agentId } })));

  // r: reply, n: note, e: resolve, t: take over.
  const keys = useRef({ patch, simple });
  keys.current = { patch, simple };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t.closest("input, textarea, select") || e.metaKey || e.ctrlKey || e.altKey) return;
      if (e.key === "r" || e.key === "n") {
        setMode(e.key === "r" ? "reply" : "note");
        composer.current?.focus();
      } else if (e.key === "e") void keys.current.patch({ status: "resolved" });
      else if (e.key === "t") void keys.current.simple("takeover");
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  if (!seen) return <div className="placeholder">{error ? <p className="error">{error}</p> : <p>Loading ticket #{number}…</p>}</div>;
  const t = seen.ticket;
  const moved = latest && latest.ticket.version !== t.version ? changesSince(seen, latest, directory.name) : [];
  const isAdmin = session.role === "admin";
  const closed = t.status === "closed";

  return (
    <div className="ticket-pane">
      <section className="conversation" aria-label={`Ticket ${t.number}`}>
        <div className="ticket-head">
          <button type="button" className="back" onClick={props.onBack}>
            ← Queue
          </button>
          <h1>
            <span className="number">#{t.number}</span> {t.subject}
          </h1>
          <div className="badges">
            <span className={`status ${t.status}`}>{STATUS_LABEL[t.status]}</span>
            <span className={`priority ${t.priority}`}>{t.priority}</span>
            <span>{CHANNEL_LABEL[t.source.channel] ?? t.source.channel}</span>
            <span>{t.assignee ? `Assigned to ${directory.name(t.assignee)}` : "Unassigned"}</span>
            <span>{seen.conversation_owner === "ai" ? "AI answers the customer" : "People answer the customer"}</span>
          </div>
        </div>
        {moved.length > 0 && (
          <div className="changed" role="alert">
            <strong>This ticket changed since you opened it:</strong>
            <ul>
              {moved.map((c, i) => (
                <li key={i}>{c}</li>
              ))}
            </ul>
            <button type="button" onClick={readLatest}>
              Show the changes
            </button>
          </div>
        )}
        <ol className="thread">
          {seen.thread.map((e) => (
            <ThreadItem key={e.id} entry={e} name={directory.name} customer={seen.customer?.name} onDownload={download} />
          ))}
          {seen.surveys.map((s) => (
            <li key={`csat-${s.cycle}`} className="event csat">
              <span className="title">
                Satisfaction survey, cycle {s.cycle} ({CHANNEL_LABEL[s.channel] ?? s.channel}):{" "}
                {s.rating ? `rated ${s.rating} of 5` : `not answered (${humanize(typeof s.offer === "string" ? s.offer : Object.keys(s.offer)[0] ?? "offered")})`}
              </span>
              {s.comment && <span className="explain">“{s.comment}”</span>}
            </li>
          ))}
        </ol>
        <form
          className={`composer ${mode}`}
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          <div className="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={mode === "reply"} onClick={() => setMode("reply")}>
              Reply to customer
            </button>
            <button type="button" role="tab" aria-selected={mode === "note"} onClick={() => setMode("note")}>
              Internal note
            </button>
          </div>
          <textarea
            ref={composer}
            aria-label={mode === "reply" ? "Reply to the customer" : "Internal note"}
            placeholder={mode === "reply" ? "Write to the customer…" : "Only your team sees notes…"}
            value={draft}
            maxLength={16000}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                void send();
              }
            }}
            disabled={closed}
          />
          <div className="send-row">
            {error && <span className="error">{error}</span>}
            <button type="submit" className="primary" disabled={busy || closed || !draft.trim()}>
              {mode === "reply" ? "Send reply" : "Add note"}
            </button>
          </div>
        </form>
      </section>
      <aside className="facts" aria-label="Ticket facts">
        <Actions detail={seen} isAdmin={isAdmin} me={session.agentId} directory={directory} busy={busy} patch={patch} simple={simple} assign={assign} />
        <Facts detail={seen} directory={directory} />
        {seen.customer && <PastTickets api={api} customer={seen.customer.id} current={t.number} onOpen={props.onOpen} />}
      </aside>
      {conflict && (
        <div className="dialog-backdrop">
          <div className="dialog" role="alertdialog" aria-label="The ticket changed">
            <h2>Someone changed this ticket while you were working</h2>
            <ul>
              {conflict.changes.length ? conflict.changes.map((c, i) => <li key={i}>{c}</li>) : <li>Its details were updated.</li>}
            </ul>
            <p>{conflict.what === "send" ? "Send your message anyway?" : "Apply your change anyway?"}</p>
            <div className="buttons">
              <button type="button" className="primary" onClick={conflict.retry}>
                {conflict.what === "send" ? "Send anyway" : "Apply anyway"}
              </button>
              <button
                type="button"
                onClick={() => {
                  setConflict(null);
                  readLatest();
                }}
              >
                Review first
              </button>
            </div>
          </div>
        </div>
      )}
    </div>
  );
}

function ThreadItem({
  entry: e,
  name,
  customer,
  onDownload,
}: {
  entry: Entry;
  name: (id: string) => string;
  customer?: string | null;
  onDownload: (entry: string, index: number) => void;
}) {
  if (e.kind === "event") {
    const { title, explain } = describeEvent(e, name);
    return (
      <li className={`event ${e.event ?? ""}`}>
        <span className="title">{title}</span>
        {explain && <span className="explain">{explain}</span>}
        <time dateTime={e.at} title={clock(e.at)}>
          {ago(e.at)}
        </time>
      </li>
    );
  }
  return (
    <li className={`entry ${e.kind} ${e.actor}`}>
      <div className="entry-head">
        <span className="author">{author(e, name, customer)}</span>
        {e.kind === "note" && <span className="internal">Internal note: not sent to the customer</span>}
        {e.sender?.verified === false && <span className="warning">sender not verified</span>}
        <time dateTime={e.at} title={clock(e.at)}>
          {ago(e.at)}
        </time>
      </div>
      <div className="text">{e.text}</div>
      {e.delivery && (
        <div className={`delivery ${e.delivery}`}>
          {DELIVERY_LABEL[e.delivery] ?? e.delivery}
          {e.delivery_error ? `: ${e.delivery_error}` : ""}
        </div>
      )}
      {e.original && <div className="more">Longer than shown ({e.original.text_bytes} bytes in full{e.original.truncated ? ", cut at the size limit" : ""}).</div>}
      {(e.attachments ?? []).length > 0 && (
        <ul className="attachments">
          {(e.attachments ?? []).map((a, i) => (
            <li key={i}>
              {a.download ? (
                <button type="button" className="link" onClick={() => onDownload(e.id, i)}>
                  {a.file_name ?? humanize(a.kind)}
                </button>
              ) : (
                (a.file_name ?? humanize(a.kind))
              )}
              {a.size ? ` (${Math.ceil(a.size / 1024)} KB)` : ""}
              {a.caption ? `: ${a.caption}` : ""}
              {a.omitted ? ` (not stored: ${a.omitted})` : ""}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

function Actions(props: {
  detail: Detail;
  isAdmin: boolean;
  me: string;
  directory: Directory;
  busy: boolean;
  patch: (b: { status?: Status; priority?: Priority; tags?: string[]; team?: string }) => Promise<boolean>;
  simple: (r: "takeover" | "reopen" | "close" | "force-close" | "return-to-ai") => Promise<boolean>;
  assign: (agent: string | null) => Promise<boolean>;
}) {
  const t = props.detail.ticket;
  const [tags, setTags] = useState(t.tags.join(", "));
  useEffect(() => setTags(t.tags.join(", ")), [t.tags]);
  const done = t.status === "resolved" || t.status === "closed";
  return (
    <section className="actions" aria-label="Actions">
      <div className="buttons">
        {t.assignee !== props.me && !done && (
          <button type="button" disabled={props.busy} onClick={() => props.simple("takeover")} title="t">
            Take over
          </button>
        )}
        {!done && (
          <button type="button" disabled={props.busy} onClick={() => props.patch({ status: "resolved" })} title="e">
            Resolve
          </button>
        )}
        {done && (
          <button type="button" disabled={props.busy} onClick={() => props.simple("reopen")}>
            Reopen
          </button>
        )}
        {t.status !== "closed" && (
          <button type="button" disabled={props.busy} onClick={() => props.simple("close")}>
            Close
          </button>
        )}
        {t.status !== "closed" && props.isAdmin && (
          <button type="button" className="danger" disabled={props.busy} onClick={() => props.simple("force-close")}>
            Force close
          </button>
        )}
        {!done && (
          <button type="button" disabled={props.busy} onClick={() => props.simple("return-to-ai")}>
            Return to AI
          </button>
        )}
      </div>
      <label>
        Status
        <select value={t.status} disabled={props.busy} onChange={(e) => props.patch({ status: e.target.value as Status })}>
          {Object.entries(STATUS_LABEL).map(([k, v]) => (
            <option key={k} value={k}>
              {v}
            </option>
          ))}
        </select>
      </label>
      <label>
        Priority
        <select value={t.priority} disabled={props.busy} onChange={(e) => props.patch({ priority: e.target.value as Priority })}>
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      <label>
        Assignee
        <select value={t.assignee ?? ""} disabled={props.busy} onChange={(e) => props.assign(e.target.value || null)}>
          <option value="">Unassigned</option>
          {props.directory.agents
            .filter((a) => a.active)
            .map((a) => (
              <option key={a.id} value={a.id}>
                {a.name} ({a.presence}, {a.open_count}/{a.max_open})
              </option>
            ))}
        </select>
      </label>
      <label>
        Team
        <select value={t.team ?? ""} disabled={props.busy} onChange={(e) => props.patch({ team: e.target.value })}>
          <option value="">No team</option>
          <Options items={props.directory.teams} />
        </select>
      </label>
      <form
        className="tags"
        onSubmit={(e) => {
          e.preventDefault();
          void props.patch({ tags: tags.split(",").map((s) => s.trim()).filter(Boolean) });
        }}
      >
        <label>
          Tags
          <input value={tags} onChange={(e) => setTags(e.target.value)} placeholder="refund, vip" />
        </label>
        <button type="submit" disabled={props.busy}>
          Save tags
        </button>
      </form>
    </section>
  );
}

const WINDOW_LABEL: Record<string, string> = {
  open: "open",
  human_agent: "a person may still answer",
  template: "closed, a template goes",
  closed: "closed",
};

const DELIVERY_LABEL: Record<string, string> = {
  queued: "Sending…",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  failed: "Not delivered",
};

/** The customer's other tickets, newest activity first. */
function PastTickets({ api, customer, current, onOpen }: { api: Api; customer: string; current: number; onOpen: (n: number) => void }) {
  const [rows, setRows] = useState<TicketRow[] | null>(null);
  useEffect(() => {
    let live = true;
    const status = "open,waiting_on_customer,waiting_on_team,resolved,closed";
    ok(api.GET("/v1/tickets", { params: { query: { customer, status, limit: 11 } } })).then(
      (page) => live && setRows(page.items.filter((r) => r.number !== current).slice(0, 10)),
      () => live && setRows(null),
    );
    return () => {
      live = false;
    };
  }, [api, customer, current]);
  if (!rows) return null;
  return (
    <section className="fact past" aria-label="Past tickets">
      <h2>Other tickets</h2>
      {rows.length === 0 ? (
        <p>None: this is the customer's first.</p>
      ) : (
        <ul>
          {rows.map((r) => (
            <li key={r.number}>
              <button type="button" className="link" onClick={() => onOpen(r.number)}>
                #{r.number} {r.subject}
              </button>{" "}
              <span className="muted">
                {STATUS_LABEL[r.status]} · {ago(r.last_activity_at)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Facts({ detail, directory }: { detail: Detail; directory: Directory }) {
  const t = detail.ticket;
  const c = detail.customer;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const i = window.setInterval(() => setNow(Date.now()), 15000);
    return () => window.clearInterval(i);
  }, []);
  return (
    <>
      <section className="fact customer">
        <h2>Customer</h2>
        {c ? (
          <>
            <p className="name">{c.name ?? "No name given"}</p>
            {c.email && <p>{c.email}</p>}
            <ul className="identities">
              {c.identities.map((i, n) => (
                <li key={n}>
                  {CHANNEL_LABEL[i.channel] ?? i.channel}: {i.external_id}
                </li>
              ))}
            </ul>
            {Object.entries(c.attributes).length > 0 && (
              <dl>
                {Object.entries(c.attributes).map(([k, v]) => (
                  <div key={k}>
                    <dt>{k}</dt>
                    <dd>{v}</dd>
                  </div>
                ))}
              </dl>
            )}
            {c.undeliverable.map((u) => (
              <p key={u.address} className="warning">
                No mail goes to {u.address}: {u.kind} ({u.reason})
              </p>
            ))}
          </>
        ) : (
          <p>The customer record could not be read.</p>
        )}
        {t.follows && <p>Follows up ticket #{t.follows}.</p>}
      </section>
      {detail.reply_window && detail.reply_window.state !== "none" && (
        <section className={`fact window ${detail.reply_window.state}`} aria-label="Reply window">
          <h2>Reply window: {WINDOW_LABEL[detail.reply_window.state] ?? detail.reply_window.state}</h2>
          <p>{detail.reply_window.explain}</p>
          {detail.reply_window.closes_at && <p>{untilDue(detail.reply_window.closes_at, now).text.replace(/^due/, "closes")}</p>}
        </section>
      )}
      <section className="fact sla">
        <h2>SLA{t.sla.policy ? `: ${t.sla.policy}` : ""}</h2>
        {t.sla.targets.length === 0 && <p>No SLA applies.</p>}
        <ul>
          {t.sla.targets.map((g) => {
            const due = g.due_at && g.clock === "running" ? untilDue(g.due_at, now) : null;
            return (
              <li key={g.target} className={g.breached_at ? "breached" : g.at_risk_at ? "at_risk" : ""}>
                <strong>{humanize(g.target)}</strong>:{" "}
                {g.met_at ? `met ${ago(g.met_at, now)}` : g.breached_at ? `breached ${ago(g.breached_at, now)}` : due ? due.text : g.clock}
              </li>
            );
          })}
        </ul>
        {t.sla.reply_owed && (
          <p>
            {directory.name(t.sla.reply_owed.agent)} owes a reply {untilDue(t.sla.reply_owed.due_at, now).text}, or the ticket goes back to the queue.
          </p>
        )}
      </section>
      {(t.handoff_reason || t.ai_summary) && (
        <section className="fact ai">
          <h2>From the AI</h2>
          {t.handoff_reason && <p>Handed over: {humanize(t.handoff_reason)}</p>}
          {t.ai_summary && <p className="summary">{t.ai_summary}</p>}
        </section>
      )}
      {t.kb_links.length > 0 && (
        <section className="fact kb">
          <h2>Knowledge base</h2>
          <ul>
            {t.kb_links.map((k) => (
              <li key={k.article_id}>
                {k.url ? (
                  <a href={k.url} target="_blank" rel="noreferrer noopener">
                    {k.title}
                  </a>
                ) : (
                  k.title
                )}{" "}
                <span className="score">{Math.round(k.score * 100)}%</span>
              </li>
            ))}
          </ul>
        </section>
      )}
      {t.orders && (
        <section className="fact orders">
          <h2>Recent orders</h2>
          {t.orders.error && <p className="warning">The shop did not answer: {t.orders.error}</p>}
          <ul>
            {t.orders.orders.map((o) => (
              <li key={o.number} className={o.number === t.orders?.about ? "about" : ""}>
                <strong>{o.name}</strong> · {humanize(o.fulfilment_status)} · {o.total.amount} {o.total.currency}
                {(o.fulfilments ?? []).map((f, i) => (
                  <div key={i} className="tracking">
                    {humanize(f.status)}
                    {f.carrier ? ` with ${f.carrier}` : ""}
                    {f.tracking_number ? `: ${f.tracking_number}` : ""}
                    {f.tracking_url && (
                      <>
                        {" "}
                        <a href={f.tracking_url} target="_blank" rel="noreferrer noopener">
                          track
                        </a>
                      </>
                    )}
                  </div>
                ))}
              </li>
            ))}
          </ul>
          <p className="meta">Fetched {ago(t.orders.fetched_at, now)}.</p>
        </section>
      )}
    </>
  );
}
