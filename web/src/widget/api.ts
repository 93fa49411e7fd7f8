// The widget's side of `/widget/v1/` (docs/api.md, "Website widget").

export interface Started {
  conversation_id: string;
  visitor_token: string;
}

export type From = "visitor" | "assistant" | "agent" | "system";

export interface SurveyAsk {
  ticket?: number;
  cycle?: number;
  answer?: string;
  ratings: number[];
}

export interface ThreadMessage {
  id: string;
  from: From;
  text: string;
  created_at: string;
  client_message_id?: string;
  survey?: SurveyAsk;
}

export interface Page {
  messages: ThreadMessage[];
  cursor: string | null;
}

/** What went wrong, in the terms the widget acts on. */
export type Failure =
  /** No answer at all (offline, DNS, connection reset): try again later, in order. */
  | { kind: "network" }
  /** The server is busy or failing (429, 5xx): try again after `retryAfter` seconds. */
  | { kind: "later"; retryAfter: number }
  /** The visitor token is missing, forged or expired (401): start a new conversation. */
  | { kind: "session" }
  /** The request itself is wrong (4xx) and never succeeds: drop it and say why. */
  | { kind: "rejected"; status: number; code: string; message: string };

export class ApiError extends Error {
  constructor(readonly failure: Failure) {
    super(failure.kind === "rejected" ? failure.message : failure.kind);
  }
}

export class WidgetApi {
  constructor(private readonly base: string, private readonly key: string) {}

  start(name?: string, email?: string): Promise<Started> {
    return this.call<Started>("POST", "/widget/v1/conversations", undefined, {
      widget_key: this.key,
      ...(name ? { name } : {}),
      ...(email ? { email } : {}),
    });
  }

  send(s: Started, clientMessageId: string, text: string): Promise<unknown> {
    return this.call("POST", `/widget/v1/conversations/${encodeURIComponent(s.conversation_id)}/messages`, s.visitor_token, {
      client_message_id: clientMessageId,
      text,
    });
  }

  poll(s: Started, after: string | null): Promise<Page> {
    const q = new URLSearchParams({ limit: "100" });
    if (after) q.set("after", after);
    return this.call<Page>("GET", `/widget/v1/conversations/${encodeURIComponent(s.conversation_id)}/messages?${q}`, s.visitor_token);
  }

  answerSurvey(s: Started, ask: SurveyAsk, rating: number): Promise<unknown> {
    const which = ask.answer ? { answer: ask.answer } : { ticket: ask.ticket, cycle: ask.cycle };
    return this.call("POST", `/widget/v1/conversations/${encodeURIComponent(s.conversation_id)}/survey`, s.visitor_token, {
      ...which,
      rating,
    });
  }

  private async call<T>(method: string, path: string, token?: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers["authorization"] = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiError({ kind: "network" });
    }
    if (res.ok) return (await res.json()) as T;
    if (res.status === 429 || res.status >= 500) {
      const after = Number(res.headers.get("retry-after"));
      throw new ApiError({ kind: "later", retryAfter: Number.isFinite(after) && after > 0 ? after : 2 });
    }
    if (res.status === 401) throw new ApiError({ kind: "session" });
    let code = "error";
    let message = `request failed (${res.status})`;
    try {
      const e = (await res.json()) as { error?: { code?: string; message?: string } };
      code = e.error?.code ?? code;
      message = e.error?.message ?? message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError({ kind: "rejected", status: res.status, code, message });
  }
}
