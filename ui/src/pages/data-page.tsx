import { useState } from 'react';
import type { Page, PoolExampleView, PoolFacetsView } from '../../../src/contracts/dashboard.ts';
import { queryString } from '../api.ts';
import { Pager } from '../components/pager.tsx';
import { Badge, Status } from '../components/status.tsx';
import { count } from '../format.ts';
import { useFetch } from '../use-fetch.ts';

interface Filters {
  label: string;
  source: string;
  split: string;
  review: string;
  verdict: string;
  tag: string;
  search: string;
}

const EMPTY: Filters = { label: '', source: '', split: '', review: '', verdict: '', tag: '', search: '' };
const LIMIT = 50;

function Select(props: { label: string; value: string; onChange: (value: string) => void; options: { value: string; text: string }[] }) {
  return (
    <label className="field">
      <span>{props.label}</span>
      <select value={props.value} onChange={(event) => props.onChange(event.target.value)} aria-label={props.label}>
        <option value="">all</option>
        {props.options.map((option) => <option key={option.value} value={option.value}>{option.text}</option>)}
      </select>
    </label>
  );
}

/** The task's pool: every example with its answer, source, split, review state and filter verdict, 50 at a time. */
export function DataPage() {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [search, setSearch] = useState('');
  const [offset, setOffset] = useState(0);
  const page = useFetch<Page<PoolExampleView>>(`pool/examples${queryString({ ...filters, offset, limit: LIMIT })}`);
  // The filters' choices (counting tags reads every row) are asked for once the first page is in.
  const facets = useFetch<PoolFacetsView>(page.state === 'loading' ? null : 'pool/facets');
  const set = (key: keyof Filters) => (value: string): void => {
    setFilters({ ...filters, [key]: value });
    setOffset(0);
  };
  const ready = facets.state === 'ready' ? facets.value : undefined;
  return (
    <section>
      <h1>Examples</h1>
      <form className="filters" onSubmit={(event) => { event.preventDefault(); set('search')(search.trim()); }}>
        <Select label="Label" value={filters.label} onChange={set('label')} options={(ready?.labels ?? []).map(({ label, count: n }) => ({ value: label, text: `${label} (${count(n)})` }))} />
        <Select label="Source" value={filters.source} onChange={set('source')} options={['human', 'synthetic', 'log'].map((value) => ({ value, text: value }))} />
        <Select label="Split" value={filters.split} onChange={set('split')} options={[{ value: 'train', text: 'train' }, { value: 'eval', text: 'held-out (eval)' }, { value: 'none', text: 'not split' }]} />
        <Select label="Review" value={filters.review} onChange={set('review')} options={['pending', 'accepted', 'edited', 'rejected'].map((value) => ({ value, text: value }))} />
        <Select
          label="Filter verdict"
          value={filters.verdict}
          onChange={set('verdict')}
          options={[{ value: 'kept', text: 'kept' }, { value: 'dropped', text: 'dropped (any step)' }, ...(ready?.filterSteps ?? []).map(({ step, dropped }) => ({ value: `dropped:${step}`, text: `dropped by ${step} (${count(dropped)})` }))]}
        />
        <Select label="Tag" value={filters.tag} onChange={set('tag')} options={(ready?.tags ?? []).map(({ tag, count: n }) => ({ value: tag, text: `${tag} (${count(n)})` }))} />
        <label className="field grow">
          <span>Input contains</span>
          <input type="search" value={search} onChange={(event) => setSearch(event.target.value)} placeholder="words, then Enter" aria-label="Input contains" />
        </label>
        {Object.values(filters).some((value) => value !== '') && <button type="button" className="link" onClick={() => { setFilters(EMPTY); setSearch(''); setOffset(0); }}>Clear filters</button>}
      </form>
      <Status loaded={page}>
        {(value) => (
          <>
            <Pager offset={value.offset} limit={value.limit} total={value.total} onOffset={setOffset} />
            <table className="examples" data-testid="examples-table">
              <thead>
                <tr><th className="num">#</th><th>Input</th><th>Answer</th><th>Source</th><th>Split</th><th>Review</th><th>Filters</th></tr>
              </thead>
              <tbody>
                {value.items.map((example) => (
                  <tr key={example.id}>
                    <td className="num mono">{example.id}</td>
                    <td className="input" title={example.provenance}>{example.input}{example.tags.length > 0 && <div className="tags">{example.tags.map((tag) => <Badge key={tag} kind="tag">{tag}</Badge>)}</div>}</td>
                    <td className="mono answer">{example.answer ?? <span className="muted">(none)</span>}{example.originalAnswer !== null && example.originalAnswer !== example.answer && <div className="muted small">was {example.originalAnswer}</div>}</td>
                    <td>{example.source}</td>
                    <td>{example.split ?? <span className="muted">—</span>}</td>
                    <td><Badge kind={example.review}>{example.review}</Badge></td>
                    <td>{example.dropped === null ? <span className="muted">kept</span> : <span title={example.dropped.reason}><Badge kind="dropped">{example.dropped.step}</Badge></span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {value.items.length === 0 && <p className="muted">No example matches these filters.</p>}
          </>
        )}
      </Status>
    </section>
  );
}
