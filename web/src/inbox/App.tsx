// The inbox: the queue, the open ticket's thread and its facts, side by side; for
// admins, the admin pages under `#/admin/<page>`.

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { type Agent, type Api, ApiFailure, type Channel, ok, type Priority, type SlaStatus, type Status, type Team, type TicketRow } from "./api/client";
import type { Session } from "./auth";
import { Options } from "./admin/common";
import { CHANNEL_LABEL, PRIORITIES, STATUS_LABEL, ago, untilDue } from "./format";
import { TicketPane } from "./TicketPane";
import { Admin, type AdminPage, isAdminPage } from "./admin/Admin";

const QUEUE_POLL_MS = 5000;

export interface Filters {
  view: "mine" | "unassigned" | "all";
  team: string;
  status: "" | Status | "active";
  priority: "" | Priority;
  sla: "" | SlaStatus;
  channel: "" | Channel;
  tag: string;
  sort: "next_breach" | "priority" | "last_activity";
}

/** The admin page the location names, if any (and the caller may see it). */
function pageOf(hash: string, admin: boolean): AdminPage | null {
  const m = /^#\/admin\/([a-z]+)/.exec(hash);
  if (!admin || !m) return null;
  return isAdminPage(m[1]) ? m[1] : "reports";
}

const DEFAULT_FILTERS: Filters = { view: "mine", team: "", status: "active", priority: "", sla: "", channel: "", tag: "", sort: "next_breach" };

export interface Directory {
  agents: Agent[];
  teams: Team[];
  name: (id: string) => string;
}

export function App({ api, session, onSignOut }: { api: Api; session: Session; onSignOut: () => void }) {
  const [filters, setFilters] = useState<Filters>(DEFAULT_FILTERS);
  const [rows, setRows] = useState<TicketRow[]>([]);
  const [queueError, setQueueError] = useState<string | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [teams, setTeams] = useState<Team[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [pane, setPane] = useState<"queue" | "ticket">("queue");
  const [showHelp, setShowHelp] = useState(false);
  const isAdmin = session.role === "admin";
  const [adminPage, setAdminPage] = useState<AdminPage | null>(() => pageOf(window.location.hash, isAdmin));
  useEffect(() => {
    const follow = () => setAdminPage(pageOf(window.location.hash, isAdmin));
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, [isAdmin]);
  const me = agents.find((a) => a.id === session.agentId);

  const directory: Directory = useMemo(
    () => ({ agents, teams, name: (id: string) => agents.find((a) => a.id === id)?.name ?? id }),
    [agents, teams],
  );

  const loadDirectory = useCallback(async () => {
    const [a, t] = await Promise.all([
      ok(api.GET("/v1/agents", { params: { query: { limit: 100 } } })),
      ok(api.GET("/v1/teams", { params: { query: { limit: 100 } } })),
    ]);
    setAgents(a.items);
    setTeams(t.items);
  }, [api]);

  useEffect(() => {
    loadDirectory().catch((e: Error) => setNotice(e.message));
  }, [loadDirectory]);

  const loadQueue = useCallback(async () => {
    const query: Record<string, string | number> = { sort: filters.sort, limit: 100 };
    if (filters.view === "mine") query.assignee = "me";
    if (filters.view === "unassigned") query.assignee = "unassigned";
    if (filters.status && filters.status !== "active") query.status = filters.status;
    for (const k of ["team", "priority", "sla", "channel", "tag"] as const) if (filters[k]) query[k] = filters[k];
    try {
      const page = await ok(api.GET("/v1/tickets", { params: { query } }));
      setRows(page.items);
      setQueueError(null);
    } catch (e) {
      setQueueError((e as Error).message);
    }
  }, [api, filters]);

  useEffect(() => {
    loadQueue();
    const t = window.setInterval(loadQueue, QUEUE_POLL_MS);
    return () => window.clearInterval(t);
  }, [loadQueue]);

  const open = useCallback((n: number) => {
    setSelected(n);
    setPane("ticket");
    if (window.location.hash.startsWith("#/admin")) window.location.hash = "#/";
  }, []);

  const getNext = useCallback(async () => {
    try {
      const res = await api.POST("/v1/tickets/next", {});
      if (res.response.status === 204) {
        setNotice("Nothing is waiting in your teams' queues.");
        return;
      }
      const taken = await ok(Promise.resolve(res));
      if (taken) {
        open(taken.ticket.number);
        loadQueue();
      }
    } catch (e) {
      setNotice(e instanceof ApiFailure && e.code === "at_capacity" ? "You are at your limit of open tickets." : (e as Error).message);
    }
  }, [api, open, loadQueue]);

  const setPresence = useCallback(
    async (presence: Agent["presence"]) => {
      try {
        await ok(api.PUT("/v1/agents/{id}/presence", { params: { path: { id: session.agentId } }, body: { presence } }));
        await loadDirectory();
      } catch (e) {
        setNotice((e as Error).message);
      }
    },
    [api, session.agentId, loadDirectory],
  );

  // Keyboard: j/k move in the queue, g gets the next ticket, ? shows the keys.
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (adminPage || t.closest("input, textarea, select, [contenteditable]") || e.metaKey || e.ctrlKey || e.altKey) return;
      const list = rowsRef.current;
      const at = list.findIndex((r) => r.number === selected);
      if (e.key === "j" && list.length) open(list[Math.min(at + 1, list.length - 1)].number);
      else if (e.key === "k" && list.length) open(list[Math.max(at - 1, 0)].number);
      else if (e.key === "g") getNext();
      else if (e.key === "?") setShowHelp((v) => !v);
      else if (e.key === "Escape") setShowHelp(false);
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [selected, open, getNext, adminPage]);

  const set = <K extends keyof Filters>(k: K, v: Filters[K]) => setFilters((f) => ({ ...f, [k]: v }));

  return (
    <div className={adminPage ? "inbox admin-view" : `inbox show-${pane}`}>
      <header className="topbar">
        <strong className="brand">Baton</strong>
        {isAdmin && (
          <nav className="views" aria-label="Views">
            <a href="#/" aria-current={adminPage ? undefined : "page"}>
              Inbox
            </a>
            <a href={`#/admin/${adminPage ?? "reports"}`} aria-current={adminPage ? "page" : undefined}>
              Admin
            </a>
          </nav>
        )}
        <button type="button" className="primary" onClick={getNext} title="Get the most urgent waiting ticket (g)">
          Get next ticket
        </button>
        <span className="spacer" />
        <label className="presence">
          <span className={`dot ${me?.presence ?? "offline"}`} aria-hidden="true" />
          <select aria-label="Your presence" value={me?.presence ?? "offline"} onChange={(e) => setPresence(e.target.value as Agent["presence"])}>
            <option value="online">Online</option>
            <option value="away">Away</option>
            <option value="offline">Offline</option>
          </select>
        </label>
        <span className="who" title={session.email}>
          {me?.name ?? session.email} · {session.role}
        </span>
        <button type="button" onClick={() => setShowHelp(true)} aria-label="Keyboard shortcuts">
          ?
        </button>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      {notice && (
        <div className="notice" role="status">
          {notice}
          <button type="button" onClick={() => setNotice(null)} aria-label="Dismiss">
            ×
          </button>
        </div>
      )}
      {adminPage && <Admin api={api} page={adminPage} directory={directory} reloadDirectory={loadDirectory} />}
      {!adminPage && (
      <>
      <aside className="queue" aria-label="Ticket queue">
        <div className="filters">
          <div className="tabs" role="tablist">
            {(["mine", "unassigned", "all"] as const).map((v) => (
              <button key={v} type="button" role="tab" aria-selected={filters.view === v} onClick={() => set("view", v)}>
                {v === "mine" ? "Mine" : v === "unassigned" ? "Unassigned" : "All"}
              </button>
            ))}
          </div>
          <div className="row">
            <select aria-label="Status" value={filters.status} onChange={(e) => set("status", e.target.value as Filters["status"])}>
              <option value="active">Active</option>
              {Object.entries(STATUS_LABEL).map(([k, v]) => (
                <option key={k} value={k}>
                  {v}
                </option>
              ))}
            </select>
            <select aria-label="Team" value={filters.team} onChange={(e) => set("team", e.target.value)}>
              <option value="">Any team</option>
              <Options items={teams} />
            </select>
            <select aria-label="Priority" value={filters.priority} onChange={(e) => set("priority", e.target.value as Filters["priority"])}>
              <option value="">Any priority</option>
              {PRIORITIES.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </div>
          <div className="row">
            <select aria-label="SLA" value={filters.sla} onChange={(e) => set("sla", e.target.value as Filters["sla"])}>
              <option value="">Any SLA state</option>
              <option value="breached">Breached</option>
              <option value="at_risk">At risk</option>
              <option value="on_track">On track</option>
              <option value="none">No SLA</option>
            </select>
            <select aria-label="Channel" value={filters.channel} onChange={(e) => set("channel", e.target.value as Filters["channel"])}>
              <option value="">Any channel</option>
              {Object.entries(CHANNEL_LABEL).map(([k, v]) => (
                <option key={k} value={k}>
                  {v}
                </option>
              ))}
            </select>
            <input aria-label="Tag" placeholder="tag" value={filters.tag} onChange={(e) => set("tag", e.target.value.trim())} />
          </div>
          <div className="row">
            <label>
              Sort{" "}
              <select aria-label="Sort" value={filters.sort} onChange={(e) => set("sort", e.target.value as Filters["sort"])}>
                <option value="next_breach">Next SLA breach</option>
                <option value="priority">Priority</option>
                <option value="last_activity">Last activity</option>
              </select>
            </label>
          </div>
        </div>
        {queueError && <p className="error">{queueError}</p>}
        <ul className="rows">
          {rows.length === 0 && !queueError && <li className="empty">No tickets here.</li>}
          {rows.map((r) => (
            <QueueRow key={r.number} row={r} selected={r.number === selected} onOpen={open} name={directory.name} />
          ))}
        </ul>
      </aside>
      <main className="ticket">
        {selected === null ? (
          <div className="placeholder">
            <p>Pick a ticket from the queue, or get the next one (g).</p>
          </div>
        ) : (
          <TicketPane
            key={selected}
            api={api}
            number={selected}
            session={session}
            directory={directory}
            onChanged={loadQueue}
            onBack={() => setPane("queue")}
            onOpen={open}
          />
        )}
      </main>
      </>
      )}
      {showHelp && (
        <div className="dialog-backdrop" onClick={() => setShowHelp(false)}>
          <div className="dialog" role="dialog" aria-label="Keyboard shortcuts" onClick={(e) => e.stopPropagation()}>
            <h2>Keyboard shortcuts</h2>
            <dl className="keys">
              <dt>j / k</dt>
              <dd>next / previous ticket in the queue</dd>
              <dt>g</dt>
              <dd>get the next ticket</dd>
              <dt>r</dt>
              <dd>reply to the customer</dd>
              <dt>n</dt>
              <dd>write an internal note</dd>
              <dt>Ctrl+Enter</dt>
              <dd>send the reply or note</dd>
              <dt>e</dt>
              <dd>resolve the ticket</dd>
              <dt>t</dt>
              <dd>take the ticket over</dd>
              <dt>?</dt>
              <dd>this list</dd>
            </dl>
            <button type="button" onClick={() => setShowHelp(false)}>
              Close
            </button>
          </div>
        </div>
      )}
    </div>
  );
}

function QueueRow({ row, selected, onOpen, name }: { row: TicketRow; selected: boolean; onOpen: (n: number) => void; name: (id: string) => string }) {
  const due = row.sla_due ? untilDue(row.sla_due) : null;
  return (
    <li>
      <button type="button" className={`row-button${selected ? " selected" : ""}`} aria-current={selected} onClick={() => onOpen(row.number)} data-ticket={row.number}>
        <span className="line">
          <span className="number">#{row.number}</span>
          <span className="customer">{row.customer.name ?? "Customer"}</span>
          <span className={`priority ${row.priority}`}>{row.priority}</span>
        </span>
        <span className="subject">{row.subject}</span>
        <span className="line meta">
          <span className={`status ${row.status}`}>{STATUS_LABEL[row.status]}</span>
          <span className={`sla ${row.sla_state}`}>
            {row.sla_state === "none" ? "no SLA" : row.sla_state.replace("_", " ")}
            {due ? ` · ${due.text}` : ""}
          </span>
          <span>{CHANNEL_LABEL[row.source] ?? row.source}</span>
          <span>{row.assignee ? name(row.assignee) : "unassigned"}</span>
          <span title={row.last_activity_at}>{ago(row.last_activity_at)}</span>
        </span>
      </button>
    </li>
  );
}
