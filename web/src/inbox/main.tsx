// The inbox's entry point: configuration, sign-in, then the app.

import { StrictMode, useCallback, useEffect, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { makeApi } from "./api/client";
import { App } from "./App";
import { type Config, type Session, devSignIn, finishOidc, loadConfig, logoutUrl, refreshOidc, savedSession, saveSession, startOidc } from "./auth";

function Root({ config, initial }: { config: Config; initial: Session | null }) {
  const [session, setSession] = useState<Session | null>(initial);
  const signOut = useCallback(() => {
    saveSession(null);
    setSession(null);
    const out = logoutUrl(config.auth);
    if (out) window.location.assign(out);
  }, [config.auth]);
  // Renew the ID token five minutes before it expires; when that fails, sign in again.
  useEffect(() => {
    const auth = config.auth;
    if (auth.kind !== "oidc" || !session?.refreshToken) return;
    const wait = Math.max(0, session.expiresAt - Date.now() - 5 * 60_000);
    const t = window.setTimeout(() => {
      refreshOidc(auth, session).then(
        (s) => {
          saveSession(s);
          setSession(s);
        },
        () => signOut(),
      );
    }, wait);
    return () => window.clearTimeout(t);
  }, [config.auth, session, signOut]);
  const api = useMemo(() => makeApi(config.api, () => session?.token ?? null, signOut), [config.api, session, signOut]);
  if (!session)
    return (
      <SignIn
        config={config}
        onSignedIn={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  return <App api={api} session={session} onSignOut={signOut} />;
}

function SignIn({ config, onSignedIn }: { config: Config; onSignedIn: (s: Session) => void }) {
  const [email, setEmail] = useState("ann@demo.example");
  const [role, setRole] = useState<"agent" | "admin">("agent");
  const [error, setError] = useState<string | null>(null);
  const auth = config.auth;
  return (
    <main className="sign-in">
      <h1>Baton inbox</h1>
      {auth.kind === "dev" ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            devSignIn(email.trim(), role).then(onSignedIn, (err: Error) => setError(err.message));
          }}
        >
          <p>Local sign-in (make dev): you are signed in as the agent you name, in the demo tenant.</p>
          <label>
            E-mail
            <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          </label>
          <label>
            Role
            <select value={role} onChange={(e) => setRole(e.target.value as "agent" | "admin")}>
              <option value="agent">Agent</option>
              <option value="admin">Admin</option>
            </select>
          </label>
          <button type="submit" className="primary">
            Sign in
          </button>
        </form>
      ) : (
        <button type="button" className="primary" onClick={() => startOidc(auth).catch((e: Error) => setError(e.message))}>
          Sign in
        </button>
      )}
      {error && <p className="error">{error}</p>}
    </main>
  );
}

async function boot() {
  const root = createRoot(document.getElementById("root")!);
  try {
    const config = await loadConfig();
    let session = savedSession();
    if (config.auth.kind === "oidc") {
      const back = await finishOidc(config.auth);
      if (back) {
        saveSession(back);
        session = back;
      }
    }
    root.render(
      <StrictMode>
        <Root config={config} initial={session} />
      </StrictMode>,
    );
  } catch (e) {
    root.render(<p className="error">The inbox could not start: {(e as Error).message}</p>);
  }
}

void boot();
