// Words and times as agents read them.

import type { Entry, Priority, Status } from "./api/client";

export const STATUS_LABEL: Record<Status, string> = {
  open: "Open",
  waiting_on_customer: "Waiting on customer",
  waiting_on_team: "Waiting on team",
  resolved: "Resolved",
  closed: "Closed",
};

/** Every priority, most urgent first. */
export const PRIORITIES: readonly Priority[] = ["urgent", "high", "normal", "low"];

export const CHANNEL_LABEL: Record<string, string> = {
  whatsapp: "WhatsApp",
  instagram: "Instagram",
  email: "E-mail",
  widget: "Website chat",
};

function span(ms: number): string {
  const m = Math.round(Math.abs(ms) / 60000);
  if (m < 1) return "less than a minute";
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days`;
}

export function ago(iso: string, now = Date.now()): string {
  const ms = now - Date.parse(iso);
  return ms < 60000 ? "just now" : `${span(ms)} ago`;
}

/** Time left to a deadline, or how late it is. */
export function untilDue(iso: string, now = Date.now()): { text: string; late: boolean } {
  const ms = Date.parse(iso) - now;
  return ms >= 0 ? { text: `due in ${span(ms)}`, late: false } : { text: `overdue by ${span(ms)}`, late: true };
}

export function clock(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function humanize(code: string): string {
  const s = code.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

type Detail = Record<string, unknown>;

function str(d: Detail, k: string): string | null {
  const v = d[k];
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : null;
}

/** One line for a timeline event, in plain words, with its explanation when it has one. */
export function describeEvent(e: Entry, agentName: (id: string) => string): { title: string; explain: string | null } {
  const d = (e.detail ?? {}) as Detail;
  const by = e.agent_id ? agentName(e.agent_id) : null;
  const from = str(d, "from");
  const to = str(d, "to");
  switch (e.event) {
    case "handed_off":
      return { title: `Handed to a person${str(d, "reason") ? `: ${humanize(str(d, "reason")!)}` : ""}`, explain: str(d, "summary") };
    case "routed":
      return {
        title: `Routed to ${str(d, "winner") ? agentName(str(d, "winner")!) : "an agent"}${str(d, "team") ? ` (${str(d, "team")})` : ""}`,
        explain: str(d, "why"),
      };
    case "queued":
      return { title: `Waiting in ${str(d, "team") ?? "the"} queue`, explain: str(d, "why") };
    case "assigned":
      return { title: to ? `Assigned to ${agentName(to)}${by ? ` by ${by}` : ""}` : `Unassigned${by ? ` by ${by}` : ""}`, explain: null };
    case "taken_over":
      return { title: `${by ?? "An agent"} took over`, explain: null };
    case "returned_to_queue":
      return { title: `Taken back from ${from ? agentName(from) : "the agent"}`, explain: str(d, "reason") };
    case "status_changed":
      return { title: `${by ?? "Status"}: ${from ? STATUS_LABEL[from as Status] ?? from : "?"} → ${to ? STATUS_LABEL[to as Status] ?? to : "?"}`, explain: null };
    case "priority_changed":
      return { title: `Priority ${from ?? "?"} → ${to ?? "?"}${by ? ` (${by})` : ""}`, explain: null };
    case "delivery_failed":
      return { title: `Not delivered to ${str(d, "to") ?? "the customer"}`, explain: str(d, "reason") };
    case "needs_follow_up":
      return { title: "The reply window had closed: this needs a follow-up", explain: str(d, "reason") };
    case "follow_up_opened":
      return { title: "Follow-up of an earlier ticket", explain: null };
    case "sla": {
      // One clock's change (baton_domain::sla::SlaChange): applied, policy_changed, met,
      // reopened, paused, resumed.
      const target = str(d, "target");
      const what = str(d, "what") ?? "changed";
      const clockName = target ? `${humanize(target).toLowerCase()} target` : "SLA";
      const words: Record<string, string> = {
        applied: str(d, "policy") ? `SLA policy ${str(d, "policy")} applies` : "An SLA policy applies",
        policy_changed: `SLA policy is now ${str(d, "policy") ?? "another"}`,
        met: `${humanize(clockName)} met${d.late ? " late" : " on time"}`,
        reopened: `${humanize(clockName)} running again (reopened)`,
        paused: `${humanize(clockName)} paused (waiting on the customer)`,
        resumed: `${humanize(clockName)} running again`,
      };
      const due = str(d, "due_at");
      return { title: words[what] ?? `${humanize(clockName)}: ${humanize(what).toLowerCase()}`, explain: due ? `due ${new Date(due).toLocaleString()}` : null };
    }
    case "sla_at_risk":
    case "sla_breached": {
      const target = str(d, "target");
      const clockName = target ? `${humanize(target).toLowerCase()} target` : "SLA target";
      const due = str(d, "due_at");
      return {
        title: `${humanize(clockName)} ${e.event === "sla_breached" ? "breached" : "at risk"}`,
        explain: due ? `was due ${new Date(due).toLocaleString()}${str(d, "policy") ? ` (${str(d, "policy")})` : ""}` : null,
      };
    }
    default: {
      const parts = Object.entries(d)
        .filter(([, v]) => typeof v === "string" || typeof v === "number")
        .map(([k, v]) => `${humanize(k)}: ${String(v)}`);
      return { title: humanize(e.event ?? "event"), explain: parts.length ? parts.join(" · ") : null };
    }
  }
}

/** Who wrote a message or note. */
export function author(e: Entry, agentName: (id: string) => string, customerName?: string | null): string {
  switch (e.actor) {
    case "customer":
      return e.sender?.name || customerName || (e.channel === "widget" ? "Visitor" : e.sender?.id) || "Customer";
    case "ai":
      return "AI assistant";
    case "agent":
      return e.agent_id ? agentName(e.agent_id) : "Agent";
    default:
      return "Baton";
  }
}
