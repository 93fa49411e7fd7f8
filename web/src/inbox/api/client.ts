// The inbox's typed client for `/v1`: paths, bodies and answers come from the types
// `openapi-typescript` generates from the agent API's own OpenAPI document at every build
// (`infra/local/web`), so an app that no longer matches the API does not build.

import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.gen";

export type Schemas = components["schemas"];
export type Ticket = Schemas["TicketView"];
export type TicketRow = Schemas["TicketRow"];
export type Detail = Schemas["TicketDetail"];
export type Entry = Schemas["ThreadEntry"];
export type Agent = Schemas["AgentView"];
export type Team = Schemas["TeamView"];
export type Status = Schemas["Status"];
export type Priority = Schemas["Priority"];
export type SlaStatus = Schemas["SlaStatus"];
export type Channel = Schemas["Channel"];

/** What a failed call means to the inbox. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: Record<string, string> = {},
    /** With `409 conflict`: the ticket as it is now. */
    readonly current: Ticket | null = null,
  ) {
    super(message);
  }

  get conflict(): boolean {
    return this.status === 409 && this.code === "conflict";
  }
}

/** An error in the agent's words: the API's message and what it said of each field. */
export function describe(e: Error): string {
  if (e instanceof ApiFailure && Object.keys(e.fields).length) {
    return `${e.message}: ${Object.entries(e.fields).map(([k, v]) => `${k} ${v}`).join("; ")}`;
  }
  return e.message;
}

export type Api = ReturnType<typeof createClient<paths>>;

export function makeApi(baseUrl: string, token: () => string | null, onUnauthorized: () => void): Api {
  const client = createClient<paths>({ baseUrl });
  const auth: Middleware = {
    onRequest({ request }) {
      const t = token();
      if (t) request.headers.set("authorization", `Bearer ${t}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401) onUnauthorized();
      return response;
    },
  };
  client.use(auth);
  return client;
}

/** The data of an openapi-fetch answer, or an `ApiFailure` thrown with the API's error body. */
export async function ok<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let answer: { data?: T; error?: unknown; response: Response };
  try {
    answer = await call;
  } catch {
    throw new ApiFailure(0, "network", "Baton is not reachable; check the connection and try again.");
  }
  const { data, error, response } = answer;
  if (response.ok) return data as T;
  const body = (error ?? {}) as { error?: { code?: string; message?: string; fields?: Record<string, string> | null }; current?: unknown };
  throw new ApiFailure(
    response.status,
    body.error?.code ?? "error",
    body.error?.message ?? `${response.status} ${response.statusText}`,
    body.error?.fields ?? {},
    (body.current as Ticket | undefined) ?? null,
  );
}
