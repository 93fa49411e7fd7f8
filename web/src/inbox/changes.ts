// What changed on a ticket between what the agent read and what it is now: shown before
// an action that would otherwise go over someone else's work.

import type { Detail, Entry, Ticket } from "./api/client";
import { STATUS_LABEL } from "./format";

export function changesSince(seen: Detail, now: Detail, agentName: (id: string) => string): string[] {
  const out: string[] = [];
  const known = new Set(seen.thread.map((e) => e.id));
  for (const e of now.thread.filter((x: Entry) => !known.has(x.id))) {
    const who = e.actor === "agent" && e.agent_id ? agentName(e.agent_id) : e.actor === "customer" ? "The customer" : e.actor === "ai" ? "The AI" : "Baton";
    if (e.kind === "message") out.push(`${who} ${e.actor === "customer" ? "wrote" : "replied"}: “${clip(e.text ?? "")}”`);
    else if (e.kind === "note") out.push(`${who} added an internal note: “${clip(e.text ?? "")}”`);
  }
  out.push(...fieldChanges(seen.ticket, now.ticket, agentName));
  return out;
}

export function fieldChanges(a: Ticket, b: Ticket, agentName: (id: string) => string): string[] {
  const out: string[] = [];
  if (a.status !== b.status) out.push(`Status: ${STATUS_LABEL[a.status]} → ${STATUS_LABEL[b.status]}`);
  if (a.priority !== b.priority) out.push(`Priority: ${a.priority} → ${b.priority}`);
  if ((a.assignee ?? null) !== (b.assignee ?? null)) out.push(`Assignee: ${a.assignee ? agentName(a.assignee) : "nobody"} → ${b.assignee ? agentName(b.assignee) : "nobody"}`);
  if ((a.team ?? null) !== (b.team ?? null)) out.push(`Team: ${a.team ?? "none"} → ${b.team ?? "none"}`);
  if (a.tags.join(",") !== b.tags.join(",")) out.push(`Tags: ${a.tags.join(", ") || "none"} → ${b.tags.join(", ") || "none"}`);
  return out;
}

function clip(s: string): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > 140 ? `${one.slice(0, 139)}…` : one;
}
