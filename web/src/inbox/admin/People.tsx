// The people who answer: agents (role, skills, capacity, presence, active) and the teams
// the router fills (members, strategy, lead, when an unanswered assignment goes back).

import { useState } from "react";
import { type Agent, type Api, ok, type Schemas, type Team } from "../api/client";
import type { Directory } from "../App";
import { Options, splitList, Status, useSave } from "./common";

type Strategy = Schemas["RoutingStrategy"];

const STRATEGY_LABEL: Record<Strategy, string> = {
  round_robin: "Round robin",
  balanced: "Balanced (fewest open)",
  first_available: "First available",
};

export function People({ api, directory, reload }: { api: Api; directory: Directory; reload: () => Promise<void> }) {
  const save = useSave();
  const [newAgent, setNewAgent] = useState({ email: "", name: "", role: "agent" as Agent["role"] });
  const [newTeam, setNewTeam] = useState("");

  // PUT replaces the profile: the agent as shown, with the one change. Their teams are
  // left out: membership is edited on the teams below.
  const updateAgent = (a: Agent, change: Schemas["AgentBody"]) =>
    save.run(a.name, async () => {
      const body = { name: a.name, email: a.email, role: a.role, skills: a.skills, max_open: a.max_open, active: a.active, ...change };
      await ok(api.PUT("/v1/agents/{id}", { params: { path: { id: a.id } }, body }));
      await reload();
    });
  const presence = (a: Agent, p: Agent["presence"]) =>
    save.run(a.name, async () => {
      await ok(api.PUT("/v1/agents/{id}/presence", { params: { path: { id: a.id } }, body: { presence: p } }));
      await reload();
    });
  const updateTeam = (t: Team, change: Schemas["TeamBody"]) =>
    save.run(t.name, async () => {
      // PUT replaces the team: the team as shown, with the one change, on the version read
      // (a colleague's change meanwhile is refused and the page shows theirs).
      const body = { name: t.name, members: t.members, strategy: t.strategy, lead: t.lead, return_unanswered_after_minutes: t.return_unanswered_after_minutes, version: t.version, ...change };
      try {
        await ok(api.PUT("/v1/teams/{id}", { params: { path: { id: t.id } }, body }));
      } finally {
        await reload();
      }
    });

  return (
    <div className="people">
      <Status message={save.message} failed={save.failed} />
      <section className="card" aria-label="Agents">
        <header>
          <h2>Agents</h2>
        </header>
        <table className="data agents">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Presence</th>
              <th>Role</th>
              <th>Skills</th>
              <th>Open / limit</th>
              <th>Teams</th>
              <th>Active</th>
            </tr>
          </thead>
          <tbody>
            {directory.agents.map((a) => (
              <tr key={a.id} data-agent={a.email}>
                <td>
                  <strong>{a.name}</strong>
                  <div className="muted">{a.email}</div>
                </td>
                <td>
                  <span className={`dot ${a.presence}`} aria-hidden="true" />{" "}
                  <select aria-label={`Presence of ${a.name}`} value={a.presence} onChange={(e) => presence(a, e.target.value as Agent["presence"])}>
                    <option value="online">Online</option>
                    <option value="away">Away</option>
                    <option value="offline">Offline</option>
                  </select>
                </td>
                <td>
                  <select aria-label={`Role of ${a.name}`} value={a.role} onChange={(e) => updateAgent(a, { role: e.target.value as Agent["role"] })}>
                    <option value="agent">Agent</option>
                    <option value="admin">Admin</option>
                  </select>
                </td>
                <td>
                  <input
                    aria-label={`Skills of ${a.name}`}
                    defaultValue={a.skills.join(", ")}
                    onBlur={(e) => e.target.value !== a.skills.join(", ") && updateAgent(a, { skills: splitList(e.target.value) })}
                  />
                </td>
                <td>
                  {a.open_count} /{" "}
                  <input
                    type="number"
                    min={1}
                    className="narrow"
                    aria-label={`Open ticket limit of ${a.name}`}
                    defaultValue={a.max_open}
                    onBlur={(e) => Number(e.target.value) !== a.max_open && updateAgent(a, { max_open: Number(e.target.value) })}
                  />
                </td>
                <td>{directory.teams.filter((t) => t.members.includes(a.id)).map((t) => t.name).join(", ") || "–"}</td>
                <td>
                  <input type="checkbox" aria-label={`${a.name} is active`} checked={a.active} onChange={(e) => updateAgent(a, { active: e.target.checked })} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void save
              .run(newAgent.email, async () => {
                await ok(api.POST("/v1/agents", { body: { email: newAgent.email.trim(), name: newAgent.name.trim() || null, role: newAgent.role } }));
                await reload();
              })
              .then((done) => done && setNewAgent({ email: "", name: "", role: "agent" }));
          }}
        >
          <input type="email" required aria-label="New agent's e-mail" placeholder="e-mail" value={newAgent.email} onChange={(e) => setNewAgent({ ...newAgent, email: e.target.value })} />
          <input aria-label="New agent's name" placeholder="name" value={newAgent.name} onChange={(e) => setNewAgent({ ...newAgent, name: e.target.value })} />
          <select aria-label="New agent's role" value={newAgent.role} onChange={(e) => setNewAgent({ ...newAgent, role: e.target.value as Agent["role"] })}>
            <option value="agent">Agent</option>
            <option value="admin">Admin</option>
          </select>
          <button type="submit" disabled={save.busy}>
            Add agent
          </button>
        </form>
      </section>

      <section className="card" aria-label="Teams">
        <header>
          <h2>Teams</h2>
        </header>
        {directory.teams.map((t) => (
          <fieldset key={t.id} className="team" data-team={t.id}>
            <legend>{t.name}</legend>
            <label>
              Strategy{" "}
              <select aria-label={`Strategy of ${t.name}`} value={t.strategy} onChange={(e) => updateTeam(t, { strategy: e.target.value as Strategy })}>
                {Object.entries(STRATEGY_LABEL).map(([k, v]) => (
                  <option key={k} value={k}>
                    {v}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Lead{" "}
              <select aria-label={`Lead of ${t.name}`} value={t.lead ?? ""} onChange={(e) => updateTeam(t, { lead: e.target.value || null })}>
                <option value="">nobody</option>
                <Options items={directory.agents} />
              </select>
            </label>
            <label>
              Back to the queue when unanswered after{" "}
              <input
                type="number"
                min={1}
                className="narrow"
                aria-label={`Unanswered minutes of ${t.name}`}
                defaultValue={t.return_unanswered_after_minutes ?? ""}
                onBlur={(e) => {
                  const v = e.target.value ? Number(e.target.value) : null;
                  if (v !== (t.return_unanswered_after_minutes ?? null)) void updateTeam(t, { return_unanswered_after_minutes: v });
                }}
              />{" "}
              minutes
            </label>
            <div className="members">
              Members:
              {directory.agents.map((a) => (
                <label key={a.id} className="member">
                  <input
                    type="checkbox"
                    checked={t.members.includes(a.id)}
                    onChange={(e) => updateTeam(t, { members: e.target.checked ? [...t.members, a.id] : t.members.filter((m) => m !== a.id) })}
                  />
                  {a.name}
                </label>
              ))}
            </div>
          </fieldset>
        ))}
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void save
              .run(newTeam, async () => {
                await ok(api.POST("/v1/teams", { body: { name: newTeam.trim(), members: [] } }));
                await reload();
              })
              .then((done) => done && setNewTeam(""));
          }}
        >
          <input required aria-label="New team's name" placeholder="team name" value={newTeam} onChange={(e) => setNewTeam(e.target.value)} />
          <button type="submit" disabled={save.busy}>
            Add team
          </button>
        </form>
      </section>
    </div>
  );
}
