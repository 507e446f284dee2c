import { useCallback, useEffect, useRef, useState } from 'react';
import type { OverviewView, Page, PoolExampleView, ReviewBody, ReviewResultView } from '../../../src/contracts/dashboard.ts';
import { api, queryString } from '../api.ts';
import { Badge, Status } from '../components/status.tsx';
import { count } from '../format.ts';
import { useFetch } from '../use-fetch.ts';

const LIMIT = 20;

/**
 * The review queue, as `understudy data review` orders it (synthetic, then logs, then human). Keys: a accept, e edit,
 * r reject, j/k next/previous. An edit keeps the original answer, so (original, edited) becomes a DPO pair.
 */
export function ReviewPage(props: { overview: OverviewView }) {
  const [split, setSplit] = useState('train');
  const [version, setVersion] = useState(0);
  const [selected, setSelected] = useState(0);
  const [editing, setEditing] = useState<string | null>(null);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const queue = useFetch<Page<PoolExampleView>>(`review/queue${queryString({ split, limit: LIMIT })}`, version);
  const items = queue.state === 'ready' ? queue.value.items : [];
  const current = items[Math.min(selected, items.length - 1)];
  const editor = useRef<HTMLInputElement>(null);
  const labelTask = props.overview.task.outputType === 'labels';

  const decide = useCallback(async (body: ReviewBody): Promise<void> => {
    if (current === undefined || busy) return;
    setBusy(true);
    try {
      const result = await api<ReviewResultView>(`review/${current.id}`, { method: 'POST', body });
      const text = result.applied === 'edit'
        ? `Edited #${current.id}: ${current.answer ?? '(none)'} → ${result.example.answer ?? ''} (kept as a preference pair; ${count(result.preferencePairs)} in all)`
        : result.applied === 'accept' ? `Accepted #${current.id}` : `Rejected #${current.id}`;
      setMessage({ kind: 'ok', text });
      setEditing(null);
      setVersion((value) => value + 1);
    } catch (error) {
      setMessage({ kind: 'error', text: error instanceof Error ? error.message : String(error) });
    } finally {
      setBusy(false);
    }
  }, [current, busy]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      if (editing !== null || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.target instanceof HTMLElement && ['INPUT', 'SELECT', 'TEXTAREA'].includes(event.target.tagName)) return;
      if (event.key === 'a') void decide({ decision: 'accept' });
      else if (event.key === 'r') void decide({ decision: 'reject' });
      else if (event.key === 'e' && current !== undefined) {
        event.preventDefault();
        setEditing(current.answer ?? '');
      } else if (event.key === 'j') setSelected((index) => Math.min(index + 1, Math.max(items.length - 1, 0)));
      else if (event.key === 'k') setSelected((index) => Math.max(index - 1, 0));
      else return;
      event.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [decide, editing, current, items.length]);

  useEffect(() => {
    if (editing !== null) editor.current?.focus();
  }, [editing]);

  return (
    <section className="review">
      <h1>Review queue</h1>
      <div className="toolbar">
        <label className="field">
          <span>Side</span>
          <select value={split} onChange={(event) => { setSplit(event.target.value); setSelected(0); }} aria-label="Side">
            <option value="train">train (kept by filters)</option>
            <option value="eval">held-out (eval)</option>
            <option value="all">all, unsplit included</option>
          </select>
        </label>
        <p className="keys"><kbd>a</kbd> accept <kbd>e</kbd> edit <kbd>r</kbd> reject <kbd>j</kbd>/<kbd>k</kbd> next/previous</p>
      </div>
      {message !== null && <p className={message.kind === 'ok' ? 'notice' : 'error'} role="status" data-testid="review-message">{message.text}</p>}
      <Status loaded={queue}>
        {(page) => page.items.length === 0 ? <p className="muted">Nothing to review on this side: no pending example.</p> : (
          <div className="review-layout">
            <ol className="queue" aria-label="pending examples">
              {page.items.map((example, index) => (
                <li key={example.id} className={example === current ? 'selected' : ''} onClick={() => setSelected(index)}>
                  <span className="mono muted">#{example.id}</span> {example.input}
                </li>
              ))}
              <li className="muted small">{count(page.total)} pending in all</li>
            </ol>
            {current !== undefined && (
              <article className="card" data-testid="review-card" data-example-id={current.id}>
                <header>
                  <span className="mono">#{current.id}</span> <Badge kind="tag">{current.source}</Badge> <span className="muted">from {current.provenance}</span>
                  {current.tags.map((tag) => <Badge key={tag} kind="tag">{tag}</Badge>)}
                </header>
                <h2>Input</h2>
                <p className="text">{current.input}</p>
                <h2>Answer</h2>
                {editing === null ? <p className="text mono answer-big">{current.answer ?? '(none)'}</p> : (
                  <form onSubmit={(event) => { event.preventDefault(); void decide({ decision: 'edit', answer: editing }); }}>
                    <input
                      ref={editor}
                      className="editor mono"
                      value={editing}
                      list={labelTask ? 'task-labels' : undefined}
                      onChange={(event) => setEditing(event.target.value)}
                      onKeyDown={(event) => { if (event.key === 'Escape') setEditing(null); }}
                      aria-label="New answer"
                    />
                    {labelTask && <datalist id="task-labels">{props.overview.task.labels.map((label) => <option key={label} value={label} />)}</datalist>}
                    <p className="muted small">Enter saves (a unique prefix of a label is enough), Esc cancels.</p>
                  </form>
                )}
                <div className="actions">
                  <button type="button" disabled={busy} onClick={() => void decide({ decision: 'accept' })}>Accept <kbd>a</kbd></button>
                  <button type="button" disabled={busy} onClick={() => setEditing(current.answer ?? '')}>Edit <kbd>e</kbd></button>
                  <button type="button" disabled={busy} className="danger" onClick={() => void decide({ decision: 'reject' })}>Reject <kbd>r</kbd></button>
                </div>
              </article>
            )}
          </div>
        )}
      </Status>
    </section>
  );
}
