// The admin pages, one at a time under `#/admin/<page>`: reports, knowledge base, people,
// routing, SLA, AI and channels.

import { useCallback, useState } from "react";
import type { Api } from "../api/client";
import type { Directory } from "../App";
import { Knowledge } from "./Knowledge";
import { People } from "./People";
import { Reports } from "./Reports";
import { Ai, Channels, Routing, Sla } from "./Settings";

export const ADMIN_PAGES = {
  reports: "Reports",
  knowledge: "Knowledge base",
  people: "Agents & teams",
  routing: "Routing",
  sla: "SLA",
  ai: "AI",
  channels: "Channels",
} as const;

export type AdminPage = keyof typeof ADMIN_PAGES;

export function isAdminPage(p: string): p is AdminPage {
  return p in ADMIN_PAGES;
}

export function Admin({ api, page, directory, reloadDirectory }: { api: Api; page: AdminPage; directory: Directory; reloadDirectory: () => Promise<void> }) {
  const [draftGap, setDraftGap] = useState<string | null>(null);
  const drafted = useCallback(() => setDraftGap(null), []);
  const teamName = (id: string) => directory.teams.find((t) => t.id === id)?.name ?? id;
  return (
    <div className="admin">
      <nav className="admin-nav" aria-label="Admin">
        {Object.entries(ADMIN_PAGES).map(([k, v]) => (
          <a key={k} href={`#/admin/${k}`} aria-current={k === page ? "page" : undefined}>
            {v}
          </a>
        ))}
      </nav>
      <div className="admin-page">
        {page === "reports" && (
          <Reports
            api={api}
            name={directory.name}
            onDraft={(gap) => {
              setDraftGap(gap);
              window.location.hash = "#/admin/knowledge";
            }}
          />
        )}
        {page === "knowledge" && <Knowledge api={api} draftGap={draftGap} onDrafted={drafted} />}
        {page === "people" && <People api={api} directory={directory} reload={reloadDirectory} />}
        {page === "routing" && <Routing api={api} teams={directory.teams} teamName={teamName} />}
        {page === "sla" && <Sla api={api} />}
        {page === "ai" && <Ai api={api} />}
        {page === "channels" && <Channels api={api} />}
      </div>
    </div>
  );
}
