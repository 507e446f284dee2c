import { useState } from 'react';
import type { EvalRowView, Page } from '../../../src/contracts/dashboard.ts';
import { queryString } from '../api.ts';
import { Pager } from '../components/pager.tsx';
import { Badge, Status } from '../components/status.tsx';
import { count, time } from '../format.ts';
import { useFetch } from '../use-fetch.ts';

/** Stored evaluations, newest first. */
export function EvalsPage() {
  const [offset, setOffset] = useState(0);
  const evals = useFetch<Page<EvalRowView>>(`evals${queryString({ offset, limit: 50 })}`);
  return (
    <section>
      <h1>Evaluations</h1>
      <Status loaded={evals}>
        {(page) => page.total === 0 ? <p className="muted">No evaluation yet: understudy eval stores one.</p> : (
          <>
            <Pager offset={page.offset} limit={page.limit} total={page.total} onOffset={setOffset} />
            <table data-testid="evals-table">
              <thead><tr><th>Evaluation</th><th>When</th><th>Eval set</th><th className="num">Examples</th><th>Candidates</th><th>Best</th><th>Gate</th></tr></thead>
              <tbody>
                {page.items.map((row) => (
                  <tr key={row.id}>
                    <td className="mono"><a href={`#/evals/${encodeURIComponent(row.id)}`}>{row.id}</a></td>
                    <td className="nowrap">{time(row.createdAt)}</td>
                    <td className="nowrap">{row.dataset.name ?? row.dataset.id}</td>
                    <td className="num">{count(row.examples)}</td>
                    <td className="mono">{row.candidates.join(', ')}</td>
                    <td>{row.best === null ? '—' : <>{row.best.candidate} <span className="muted">{row.primaryMetric} {(row.best.value * 100).toFixed(1)}%</span></>}</td>
                    <td>{row.gate === null ? <span className="muted">none</span> : <Badge kind={row.gate.pass ? 'succeeded' : 'failed'}>{row.gate.pass ? 'go' : 'no go'}</Badge>}</td>
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
