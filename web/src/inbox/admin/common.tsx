// What the admin pages share: loading a resource, saving it with the API's own
// validation shown beside the fields, and small charts drawn as SVG (no chart library:
// a few bars and lines, under the page's strict Content-Security-Policy).

import { useCallback, useEffect, useState } from "react";
import { describe } from "../api/client";

/** A resource loaded once (and again on `reload`), with its error in words. */
export function useLoad<T>(load: () => Promise<T>): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(null);
      },
      (e: Error) => live && setError(describe(e)),
    );
    return () => {
      live = false;
    };
  }, [load, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data, error, reload };
}

/** Runs `action`, telling the admin how it went. */
export function useSave(): { busy: boolean; message: string | null; failed: boolean; run: (what: string, action: () => Promise<unknown>) => Promise<boolean> } {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  const run = useCallback(async (what: string, action: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await action();
      setMessage(`${what}: saved.`);
      setFailed(false);
      return true;
    } catch (e) {
      setMessage(`${what}: ${describe(e as Error)}`);
      setFailed(true);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, message, failed, run };
}

export function Status({ message, failed }: { message: string | null; failed: boolean }) {
  if (!message) return null;
  return (
    <p className={failed ? "error" : "saved"} role={failed ? "alert" : "status"}>
      {message}
    </p>
  );
}

export function percent(v: number | null | undefined): string {
  return v === null || v === undefined ? "–" : `${Math.round(v * 1000) / 10}%`;
}

/** Seconds as an agent reads them: 45 s, 12 min, 3.5 h, 2.1 d. */
export function duration(secs: number | null | undefined): string {
  if (secs === null || secs === undefined) return "–";
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.round(secs / 60)} min`;
  if (secs < 86400) return `${Math.round(secs / 360) / 10} h`;
  return `${Math.round(secs / 8640) / 10} d`;
}

export interface Bar {
  label: string;
  value: number;
  /** What the bar's end says (the value, formatted). */
  text?: string;
}

/** Horizontal bars, longest first as given. */
export function BarChart({ bars, title }: { bars: Bar[]; title: string }) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const row = 26;
  const labelWidth = 170;
  const width = 560;
  const plot = width - labelWidth - 70;
  if (bars.length === 0) return <p className="empty">Nothing to chart in this range.</p>;
  return (
    <svg className="chart bars" role="img" aria-label={title} viewBox={`0 0 ${width} ${bars.length * row + 4}`} width={width}>
      <title>{title}</title>
      {bars.map((b, i) => {
        const w = Math.max(1, (b.value / max) * plot);
        const y = i * row + 2;
        return (
          <g key={b.label} className="bar">
            <text x={labelWidth - 8} y={y + 16} textAnchor="end">
              {b.label.length > 24 ? `${b.label.slice(0, 23)}…` : b.label}
            </text>
            <rect x={labelWidth} y={y + 3} width={w} height={row - 8} rx={3} />
            <text x={labelWidth + w + 6} y={y + 16} className="value">
              {b.text ?? String(b.value)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

/** A small line of weekly counts. */
export function Sparkline({ values, label }: { values: number[]; label: string }) {
  const w = 120;
  const h = 28;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`).join(" ");
  return (
    <svg className="chart sparkline" role="img" aria-label={label} viewBox={`0 0 ${w} ${h}`} width={w} height={h}>
      <title>{label}</title>
      <polyline points={points} fill="none" />
    </svg>
  );
}

/** A list typed as comma-separated words. */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * A settings document being edited: `draft` starts as `value` (what GET returned) and is
 * replaced by each new `value` (after a save), as is the editors' typed text (`round`
 * keys them).
 */
export function useDraft<T>(value: T): { draft: T; setDraft: (d: T) => void; round: number; changed: boolean; discard: () => void } {
  const [draft, setDraft] = useState<T>(value);
  const [round, setRound] = useState(0);
  useEffect(() => {
    setDraft(value);
    setRound((r) => r + 1);
  }, [value]);
  const discard = useCallback(() => {
    setDraft(value);
    setRound((r) => r + 1);
  }, [value]);
  return { draft, setDraft, round, changed: JSON.stringify(draft) !== JSON.stringify(value), discard };
}

/** Save and Discard for a draft. */
export function DraftButtons({ label, changed, discard }: { label: string; changed: boolean; discard: () => void }) {
  return (
    <div className="row">
      <button type="submit" className="primary" disabled={!changed}>
        {label}
      </button>
      <button type="button" disabled={!changed} onClick={discard}>
        Discard changes
      </button>
    </div>
  );
}

/** `list` with item `i` swapped with its neighbour `by` places away. */
export function moved<T>(list: T[], i: number, by: -1 | 1): T[] {
  const next = [...list];
  [next[i], next[i + by]] = [next[i + by], next[i]];
  return next;
}

/** A new id `{prefix}-{n}` that none of `items` has. */
export function freshId(items: { id: string }[], prefix: string): string {
  for (let i = items.length + 1; ; i++) {
    const id = `${prefix}-${i}`;
    if (!items.some((r) => r.id === id)) return id;
  }
}

/** The row of buttons that orders and removes one item of a list. */
export function ItemButtons({ name, first, last, onMove, onRemove }: { name: string; first: boolean; last: boolean; onMove: (by: -1 | 1) => void; onRemove: () => void }) {
  return (
    <>
      <button type="button" aria-label={`Move ${name} up`} disabled={first} onClick={() => onMove(-1)}>
        ↑
      </button>
      <button type="button" aria-label={`Move ${name} down`} disabled={last} onClick={() => onMove(1)}>
        ↓
      </button>
      <button type="button" className="danger" onClick={onRemove}>
        Remove
      </button>
    </>
  );
}

/** `list` with item `i` replaced by `item`, or removed when `item` is null. */
export function replaced<T>(list: T[], i: number, item: T | null): T[] {
  return item === null ? list.filter((_, j) => j !== i) : list.map((x, j) => (j === i ? item : x));
}

/** The options of a select over named things (teams, agents, calendars), by id. */
export function Options({ items }: { items: readonly { id: string; name: string }[] }) {
  return (
    <>
      {items.map((i) => (
        <option key={i.id} value={i.id}>
          {i.name}
        </option>
      ))}
    </>
  );
}
