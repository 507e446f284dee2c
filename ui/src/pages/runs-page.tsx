import { useState } from 'react';
import type { Page, RunRowView } from '../../../src/contracts/dashboard.ts';
import { queryString } from '../api.ts';
import { Pager } from '../components/pager.tsx';
import { Badge, Status } from '../components/status.tsx';
import { duration, number, time } from '../format.ts';
import { useFetch } from '../use-fetch.ts';

/** Training runs, newest first. */
export function RunsPage() {
  const [offset, setOffset] = useState(0);
  const runs = useFetch<Page<RunRowView>>(`runs${queryString({ offset, limit: 50 })}`);
  return (
    <section>
      <h1>Training runs</h1>
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
