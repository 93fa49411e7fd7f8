// What the widget keeps across page loads (localStorage, per widget key): the
// conversation and its token, and the outbox of messages not yet accepted, in the order
// they were typed. A message's client id is fixed when it is typed, so a resend after a
// lost answer or a reload is the same message to the server (accepted once).

import type { Started } from "./api";

export interface Pending {
  client_message_id: string;
  text: string;
  typed_at: number;
}

export interface Saved {
  session: string;
  seq: number;
  conversation: Started | null;
  outbox: Pending[];
}

export interface Storage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A short random id for this browser, so client message ids never collide across visitors. */
function randomId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class WidgetState {
  private saved: Saved;

  constructor(private readonly storage: Storage | null, private readonly key: string) {
    this.saved = WidgetState.load(storage, key);
  }

  private static load(storage: Storage | null, key: string): Saved {
    const fresh: Saved = { session: randomId(), seq: 0, conversation: null, outbox: [] };
    const raw = storage?.getItem(key);
    if (!raw) return fresh;
    try {
      const v = JSON.parse(raw) as Partial<Saved>;
      return {
        session: typeof v.session === "string" ? v.session : fresh.session,
        seq: typeof v.seq === "number" ? v.seq : 0,
        conversation:
          v.conversation && typeof v.conversation.conversation_id === "string" && typeof v.conversation.visitor_token === "string"
            ? v.conversation
            : null,
        outbox: Array.isArray(v.outbox)
          ? v.outbox.filter((p): p is Pending => typeof p?.client_message_id === "string" && typeof p?.text === "string")
          : [],
      };
    } catch {
      return fresh;
    }
  }

  private persist(): void {
    try {
      this.storage?.setItem(this.key, JSON.stringify(this.saved));
    } catch {
      // storage full or disabled: the widget keeps working for this page
    }
  }

  get conversation(): Started | null {
    return this.saved.conversation;
  }

  set conversation(c: Started | null) {
    this.saved.conversation = c;
    this.persist();
  }

  get outbox(): readonly Pending[] {
    return this.saved.outbox;
  }

  /** Queues a typed message under its new, stable client id. */
  enqueue(text: string, now: number): Pending {
    this.saved.seq += 1;
    const p: Pending = { client_message_id: `w-${this.saved.session}-${this.saved.seq}`, text, typed_at: now };
    this.saved.outbox.push(p);
    this.persist();
    return p;
  }

  /** The server answered for this message (accepted, or refused for good). */
  settle(clientMessageId: string): void {
    this.saved.outbox = this.saved.outbox.filter((p) => p.client_message_id !== clientMessageId);
    this.persist();
  }
}
