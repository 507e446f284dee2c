import type { PoolStatsView } from '../../../src/contracts/dashboard.ts';
import { HistogramChart } from '../components/histogram-chart.tsx';
import { Status } from '../components/status.tsx';
import { count, shortHash } from '../format.ts';
import { useFetch } from '../use-fetch.ts';

function Tally(props: { title: string; values: Record<string, number> }) {
  return (
    <div className="tally">
      <h3>{props.title}</h3>
      <dl>{Object.entries(props.values).map(([key, value]) => <div key={key}><dt>{key}</dt><dd>{count(value)}</dd></div>)}</dl>
    </div>
  );
}

/** One horizontal bar per label, split into train, held-out and unsplit. */
function LabelBars(props: { rows: PoolStatsView['byLabel'] }) {
  const largest = Math.max(1, ...props.rows.map((row) => row.train + row.eval + row.none));
  return (
    <div className="label-bars" data-testid="label-chart" data-points={props.rows.length}>
      <div className="legend"><span className="swatch train" /> train <span className="swatch eval" /> held-out <span className="swatch none" /> not split</div>
      {props.rows.map((row) => {
        const total = row.train + row.eval + row.none;
        return (
          <div className="bar-row" key={row.label}>
            <span className="bar-label mono" title={row.label}>{row.label}</span>
            <span className="bar-track">
              <span className="bar train" style={{ width: `${(row.train / largest) * 100}%` }} />
              <span className="bar eval" style={{ width: `${(row.eval / largest) * 100}%` }} />
              <span className="bar none" style={{ width: `${(row.none / largest) * 100}%` }} />
            </span>
            <span className="bar-count">{count(total)}</span>
          </div>
        );
      })}
    </div>
  );
}

/** Distributions of the pool: labels, sources, splits, review states, input lengths, and the newest filter report. */
export function StatsPage() {
  const stats = useFetch<PoolStatsView>('pool/stats');
  return (
    <section>
      <h1>Data statistics</h1>
      <Status loaded={stats}>
        {(value) => (
          <>
            <div className="tallies">
              <Tally title="Examples" values={{ total: value.total, 'preference pairs from edits': value.preferencePairs }} />
              <Tally title="Split" values={{ train: value.bySplit.train, 'held-out': value.bySplit.eval, 'not split': value.bySplit.none }} />
              <Tally title="Source" values={value.bySource} />
              <Tally title="Review" values={value.byReview} />
            </div>
            {value.heldout !== null && <p className="muted">Held-out set version {value.heldout.version}: {count(value.heldout.size)} examples, hash <span className="mono">{shortHash(value.heldout.contentHash)}</span> (frozen).</p>}
            <div className="two-columns">
              <div className="panel">
                <h2>Labels</h2>
                <LabelBars rows={value.byLabel} />
              </div>
              <div className="panel">
                <h2>Input length</h2>
                <HistogramChart buckets={value.inputLengths} unit="characters" />
                <h2>Filter report</h2>
                {value.filterReport === null ? <p className="muted">No filter run yet (understudy data filter).</p> : (
                  <table>
                    <thead><tr><th>Step</th><th className="num">Before</th><th className="num">Dropped</th><th className="num">After</th><th>Top reasons</th></tr></thead>
                    <tbody>
                      {value.filterReport.steps.map((step) => (
                        <tr key={step.step}>
                          <td>{step.step}</td>
                          <td className="num">{count(step.before)}</td>
                          <td className="num">{step.skipped === null ? count(step.dropped) : <span className="muted" title={step.skipped}>skipped</span>}</td>
                          <td className="num">{count(step.after)}</td>
                          <td className="small">{step.reasons.map((reason) => `${reason.reason} (${count(reason.count)})`).join(', ')}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </div>
            </div>
          </>
        )}
      </Status>
    </section>
  );
}
