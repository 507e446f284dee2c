import { count } from '../format.ts';

/** "1–50 of 100,000" with previous and next. */
export function Pager(props: { offset: number; limit: number; total: number; onOffset: (offset: number) => void }) {
  const { offset, limit, total, onOffset } = props;
  const last = Math.min(offset + limit, total);
  return (
    <div className="pager">
      <button type="button" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - limit))}>← Previous</button>
      <span data-testid="pager-range">{total === 0 ? 'none' : `${count(offset + 1)}–${count(last)} of ${count(total)}`}</span>
      <button type="button" disabled={last >= total} onClick={() => onOffset(offset + limit)}>Next →</button>
    </div>
  );
}
