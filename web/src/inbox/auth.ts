// Signing in. Locally (`make dev`), the runner offers a dev sign-in that mints a local
// token for the agent you name (`POST /_baton/dev-token`). In AWS the inbox uses the
// Cognito hosted UI (authorization code with PKCE) or the configured OIDC issuer, and
// sends the ID token, renewed with the refresh token before it expires; signing out
// ends the issuer's session too (Cognito's /logout).

export interface Config {
  /** Base URL of the agent API; empty: this origin. */
  api: string;
  auth:
    | { kind: "dev" }
    | { kind: "oidc"; authorize_url: string; token_url: string; client_id: string; scopes?: string; logout_url?: string };
}

export interface Session {
  token: string;
  email: string;
  agentId: string;
  role: string;
  tenant: string;
  expiresAt: number;
  /** OIDC: trades for a new ID token before this one expires. */
  refreshToken?: string;
}

type Oidc = Extract<Config["auth"], { kind: "oidc" }>;

const KEY = "baton.inbox.session";
const PKCE_KEY = "baton.inbox.pkce";

export async function loadConfig(): Promise<Config> {
  const res = await fetch("/inbox/config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`the inbox's config.json is missing (${res.status})`);
  return (await res.json()) as Config;
}

function claims(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>;
}

export function sessionFromToken(token: string): Session {
  const c = claims(token);
  const s = (k: string) => (typeof c[k] === "string" ? (c[k] as string) : "");
  return {
    token,
    email: s("email"),
    agentId: s("custom:agent_id") || s("agent_id") || s("sub"),
    role: s("custom:role") || s("role"),
    tenant: s("custom:tenant") || s("tenant"),
    expiresAt: typeof c.exp === "number" ? c.exp * 1000 : 0,
  };
}

export function savedSession(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Session | null;
    return s && s.expiresAt > Date.now() + 30_000 ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

export async function devSignIn(email: string, role: "agent" | "admin"): Promise<Session> {
  const res = await fetch("/_baton/dev-token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, role }),
  });
  const body = (await res.json()) as { token?: string; error?: { message?: string } };
  if (!res.ok || !body.token) throw new Error(body.error?.message ?? `sign-in failed (${res.status})`);
  return sessionFromToken(body.token);
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Where the issuer sends the browser back: the inbox's own address (the app client's callback URL). */
function redirectUri(): string {
  return `${window.location.origin}/inbox/`;
}

/** Sends the browser to the issuer's sign-in page (authorization code with PKCE). */
export async function startOidc(cfg: Oidc): Promise<void> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const url = new URL(cfg.authorize_url);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: cfg.client_id,
    redirect_uri: redirectUri(),
    scope: cfg.scopes ?? "openid email profile",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  window.location.assign(url.href);
}

/** Back from the issuer with `?code&state`: trades the code for tokens; null when not a callback. */
export async function finishOidc(cfg: Oidc): Promise<Session | null> {
  const params = new URLSearchParams(window.location.search);
  const code = params.get("code");
  if (!code) return null;
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) ?? "null") as { verifier: string; state: string } | null;
  sessionStorage.removeItem(PKCE_KEY);
  window.history.replaceState(null, "", window.location.pathname);
  if (!saved || saved.state !== params.get("state")) throw new Error("the sign-in answer does not match this browser's request; sign in again");
  const res = await fetch(cfg.token_url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: cfg.client_id,
      code,
      redirect_uri: redirectUri(),
      code_verifier: saved.verifier,
    }),
  });
  const body = (await res.json()) as { id_token?: string; refresh_token?: string; error?: string };
  if (!res.ok || !body.id_token) throw new Error(`sign-in failed: ${body.error ?? res.status}`);
  // The ID token: it carries the tenant, agent and role claims and the audience the
  // API's authorizer checks.
  return { ...sessionFromToken(body.id_token), refreshToken: body.refresh_token };
}

/** A new ID token for the session from its refresh token (the issuer keeps the same refresh token). */
export async function refreshOidc(cfg: Oidc, s: Session): Promise<Session> {
  if (!s.refreshToken) throw new Error("no refresh token: sign in again");
  const res = await fetch(cfg.token_url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", client_id: cfg.client_id, refresh_token: s.refreshToken }),
  });
  const body = (await res.json()) as { id_token?: string; refresh_token?: string; error?: string };
  if (!res.ok || !body.id_token) throw new Error(`the session could not be renewed: ${body.error ?? res.status}`);
  return { ...sessionFromToken(body.id_token), refreshToken: body.refresh_token ?? s.refreshToken };
}

/** The issuer's sign-out (Cognito's `/logout`), back to the inbox; null when it has none. */
export function logoutUrl(cfg: Config["auth"]): string | null {
  if (cfg.kind !== "oidc" || !cfg.logout_url) return null;
  const url = new URL(cfg.logout_url);
  url.search = new URLSearchParams({ client_id: cfg.client_id, logout_uri: redirectUri() }).toString();
  return url.href;
}
