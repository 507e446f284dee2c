import { useState } from 'react';
import type { Page, RunRowView, StartRunView } from '../../../src/contracts/dashboard.ts';
import { api, queryString } from '../api.ts';
import { Pager } from '../components/pager.tsx';
import { Badge, Status } from '../components/status.tsx';
import { duration, number, time } from '../format.ts';
import { useFetch } from '../use-fetch.ts';
import { usePolling } from '../use-polling.ts';

/** Start `understudy train` on the workspace's config; the new run shows up in the list below once registered. */
function StartRun() {
  const [maxSteps, setMaxSteps] = useState('');
  const [data, setData] = useState<'config' | 'curated'>('config');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const start = async () => {
    setBusy(true);
    setMessage(null);
    try {
      const steps = maxSteps.trim() === '' ? undefined : Number(maxSteps);
      const started = await api<StartRunView>('runs', { method: 'POST', body: { data, ...(steps === undefined ? {} : { maxSteps: steps }) } });
      setMessage({ kind: 'ok', text: `Started ${started.command.slice(0, 2).join(' ')} (process ${started.pid}); its output goes to ${started.log}.` });
    } catch (error) {
      setMessage({ kind: 'error', text: error instanceof Error ? error.message : String(error) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="panel start-run">
      <h2>Start a run</h2>
      <div className="inline-form">
        <label className="field">Data
          <select value={data} onChange={(event) => setData(event.target.value as 'config' | 'curated')}>
            <option value="config">the config's training data</option>
            <option value="curated">the curated pool</option>
          </select>
        </label>
        <label className="field">Max steps (optional)<input inputMode="numeric" value={maxSteps} onChange={(event) => setMaxSteps(event.target.value)} placeholder="from the data size" /></label>
        <button type="button" className="primary" onClick={() => void start()} disabled={busy}>Start training</button>
      </div>
      {message !== null && <p className={message.kind === 'error' ? 'error' : 'muted small'} role={message.kind === 'error' ? 'alert' : 'status'}>{message.text}</p>}
    </div>
  );
}

/** Training runs, newest first (re-read every 2 s, so a run started anywhere appears). */
export function RunsPage() {
  const [offset, setOffset] = useState(0);
  const tick = usePolling(2000);
  const runs = useFetch<Page<RunRowView>>(`runs${queryString({ offset, limit: 50 })}`, tick);
  return (
    <section>
      <h1>Training runs</h1>
      <StartRun />
      <Status loaded={runs}>
        {(page) => page.total === 0 ? <p className="muted">No run yet: understudy train starts one.</p> : (
          <>
            <Pager offset={page.offset} limit={page.limit} total={page.total} onOffset={setOffset} />
            <table data-testid="runs-table">
              <thead><tr><th>Run</th><th>Status</th><th>Method</th><th>Base</th><th>Started</th><th className="num">Duration</th><th className="num">Steps</th><th className="num">Final loss</th><th className="num">Best val. loss</th></tr></thead>
              <tbody>
                {page.items.map((run) => (
                  <tr key={run.id}>
                    <td className="mono"><a href={`#/runs/${encodeURIComponent(run.id)}`}>{run.id}</a></td>
                    <td><Badge kind={run.status}>{run.status}</Badge></td>
                    <td>{run.method}</td>
                    <td>{run.baseName ?? '—'}</td>
                    <td>{time(run.startedAt)}</td>
                    <td className="num">{duration(run.durationSeconds)}</td>
                    <td className="num">{run.steps ?? '—'}{run.totalSteps === null ? '' : ` / ${run.totalSteps}`}</td>
                    <td className="num">{number(run.finalLoss)}</td>
                    <td className="num">{number(run.bestEvalLoss)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Status>
    </section>
  );
}
