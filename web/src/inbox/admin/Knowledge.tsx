// The knowledge base the AI answers from: the articles, one edited at a time, and a new
// article drafted from a knowledge gap (its questions, and the replies people gave).

import { useCallback, useEffect, useState } from "react";
import { type Api, describe, ok, type Schemas } from "../api/client";
import { ago } from "../format";
import { splitList, Status, useLoad, useSave } from "./common";

type Article = Schemas["ArticleView"];

interface Draft {
  id: string | null;
  title: string;
  body: string;
  tags: string;
  questions: string;
  url: string;
  gap: string | null;
  /** Where a gap's draft came from, in words. */
  origin: string | null;
}

const EMPTY: Draft = { id: null, title: "", body: "", tags: "", questions: "", url: "", gap: null, origin: null };

function fromArticle(a: Article): Draft {
  return { id: a.id, title: a.title, body: a.body, tags: a.tags.join(", "), questions: a.sample_questions.join("\n"), url: a.url ?? "", gap: null, origin: null };
}

export function Knowledge({ api, draftGap, onDrafted }: { api: Api; draftGap: string | null; onDrafted: () => void }) {
  const list = useLoad(
    useCallback(async () => {
      const all: Article[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await ok(api.GET("/v1/kb/articles", { params: { query: { limit: 100, ...(cursor ? { cursor } : {}) } } }));
        all.push(...page.items);
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
      return all;
    }, [api]),
  );
  const [draft, setDraft] = useState<Draft | null>(null);
  const [filter, setFilter] = useState("");
  const [draftError, setDraftError] = useState<string | null>(null);
  const save = useSave();

  // "Draft an article" on a knowledge gap lands here.
  useEffect(() => {
    if (!draftGap) return;
    ok(api.GET("/v1/reports/gaps/{id}/draft", { params: { path: { id: draftGap } } })).then(
      (d) => {
        setDraft({
          ...EMPTY,
          title: d.title,
          body: d.body,
          questions: d.sample_questions.join("\n"),
          gap: d.gap,
          origin: `Drafted from the knowledge gap "${d.title}"${d.tickets.length ? `, with the replies of tickets ${d.tickets.map((t) => `#${t}`).join(", ")}` : ""}. Edit it, then save.`,
        });
        setDraftError(null);
        onDrafted();
      },
      (e: Error) => setDraftError(describe(e)),
    );
  }, [api, draftGap, onDrafted]);

  const submit = async () => {
    if (!draft) return;
    const body = {
      title: draft.title,
      body: draft.body,
      tags: splitList(draft.tags),
      sample_questions: draft.questions
        .split("\n")
        .map((q) => q.trim())
        .filter(Boolean),
      url: draft.url.trim() || null,
      ...(draft.gap ? { gap: draft.gap } : {}),
    };
    const done = await save.run(draft.title || "Article", async () => {
      const saved = draft.id
        ? await ok(api.PUT("/v1/kb/articles/{id}", { params: { path: { id: draft.id } }, body }))
        : await ok(api.POST("/v1/kb/articles", { body }));
      setDraft(fromArticle(saved));
    });
    if (done) list.reload();
  };

  const remove = async () => {
    if (!draft?.id || !window.confirm(`Delete "${draft.title}"? The AI stops answering from it.`)) return;
    const id = draft.id;
    if (await save.run(draft.title, () => ok(api.DELETE("/v1/kb/articles/{id}", { params: { path: { id } } })))) {
      setDraft(null);
      list.reload();
    }
  };

  const shown = (list.data ?? []).filter((a) => !filter || `${a.title} ${a.tags.join(" ")}`.toLowerCase().includes(filter.toLowerCase()));
  return (
    <div className="knowledge split">
      <aside className="card">
        <header>
          <h2>Articles</h2>
          <button type="button" className="primary" onClick={() => setDraft({ ...EMPTY })}>
            New article
          </button>
        </header>
        <input aria-label="Find an article" placeholder="Find…" value={filter} onChange={(e) => setFilter(e.target.value)} />
        {list.error && <p className="error">{list.error}</p>}
        <ul className="list">
          {shown.map((a) => (
            <li key={a.id}>
              <button type="button" className={draft?.id === a.id ? "selected" : undefined} onClick={() => setDraft(fromArticle(a))}>
                <strong>{a.title}</strong>
                <span className="muted">
                  {a.tags.join(", ")} · {ago(a.updated_at)}
                </span>
              </button>
            </li>
          ))}
        </ul>
      </aside>
      <section className="card editor" aria-label="Article">
        {draftError && <p className="error">{draftError}</p>}
        {!draft ? (
          <p className="muted">Pick an article, start a new one, or draft one from a knowledge gap in the reports.</p>
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void submit();
            }}
          >
            {draft.origin && <p className="notice-inline">{draft.origin}</p>}
            <label>
              Title
              <input required value={draft.title} onChange={(e) => setDraft({ ...draft, title: e.target.value })} />
            </label>
            <label>
              Body
              <textarea required rows={12} value={draft.body} onChange={(e) => setDraft({ ...draft, body: e.target.value })} />
            </label>
            <label>
              Questions it answers (one per line)
              <textarea rows={4} value={draft.questions} onChange={(e) => setDraft({ ...draft, questions: e.target.value })} />
            </label>
            <label>
              Tags (comma-separated)
              <input value={draft.tags} onChange={(e) => setDraft({ ...draft, tags: e.target.value })} />
            </label>
            <label>
              Public URL
              <input type="url" value={draft.url} onChange={(e) => setDraft({ ...draft, url: e.target.value })} />
            </label>
            <div className="buttons">
              <button type="submit" className="primary" disabled={save.busy}>
                {draft.id ? "Save article" : "Create article"}
              </button>
              {draft.id && (
                <button type="button" className="danger" onClick={remove} disabled={save.busy}>
                  Delete
                </button>
              )}
            </div>
            <Status message={save.message} failed={save.failed} />
          </form>
        )}
      </section>
    </div>
  );
}
