import { useState } from 'react';
import type { DatasetExampleView, DatasetView, Page } from '../../../src/contracts/dashboard.ts';
import { queryString } from '../api.ts';
import { Pager } from '../components/pager.tsx';
import { Status } from '../components/status.tsx';
import { count, shortHash, time } from '../format.ts';
import { useFetch } from '../use-fetch.ts';

/** The datasets runs and evaluations were registered with (content-hashed), and their examples. */
export function DatasetsPage(props: { datasetId: string | undefined }) {
  const [offset, setOffset] = useState(0);
  const datasets = useFetch<Page<DatasetView>>(`datasets${queryString({ offset: props.datasetId === undefined ? offset : 0, limit: 50 })}`);
  if (props.datasetId !== undefined) return <DatasetExamples id={props.datasetId} />;
  return (
    <section>
      <h1>Datasets</h1>
      <Status loaded={datasets}>
        {(page) => page.total === 0 ? <p className="muted">No dataset registered yet: training and evaluation register theirs.</p> : (
          <>
            <Pager offset={page.offset} limit={page.limit} total={page.total} onOffset={setOffset} />
            <table>
              <thead><tr><th>Name</th><th>Role</th><th className="num">Examples</th><th>Content hash</th><th>Created</th></tr></thead>
              <tbody>
                {page.items.map((dataset) => (
                  <tr key={dataset.id}>
                    <td><a href={`#/datasets/${encodeURIComponent(dataset.id)}`}>{dataset.name}</a></td>
                    <td>{dataset.role}</td>
                    <td className="num">{count(dataset.exampleCount)}</td>
                    <td className="mono">{shortHash(dataset.contentHash)}</td>
                    <td>{time(dataset.createdAt)}</td>
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

function DatasetExamples(props: { id: string }) {
  const [offset, setOffset] = useState(0);
  const page = useFetch<Page<DatasetExampleView>>(`datasets/${encodeURIComponent(props.id)}/examples${queryString({ offset, limit: 50 })}`);
  return (
    <section>
      <p><a href="#/datasets">← Datasets</a></p>
      <h1 className="mono">{props.id}</h1>
      <Status loaded={page}>
        {(value) => (
          <>
            <Pager offset={value.offset} limit={value.limit} total={value.total} onOffset={setOffset} />
            <table className="examples">
              <thead><tr><th className="num">Position</th><th>Input</th><th>Label</th><th>From</th></tr></thead>
              <tbody>
                {value.items.map((example) => (
                  <tr key={example.id}><td className="num">{example.position}</td><td className="input">{example.input}</td><td className="mono">{example.label ?? '—'}</td><td className="small muted">{example.provenance}</td></tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Status>
    </section>
  );
}
