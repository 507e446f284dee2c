import type { EconomicsView } from '../../../src/contracts/dashboard.ts';
import { CostCurveChart } from '../components/cost-curve-chart.tsx';
import { Badge, Status } from '../components/status.tsx';
import { count, time } from '../format.ts';
import { useFetch } from '../use-fetch.ts';

function usd(value: number | null): string {
  if (value === null) return '—';
  const magnitude = Math.abs(value);
  const digits = magnitude < 0.01 && magnitude !== 0 ? magnitude.toPrecision(2) : magnitude.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return `${value < 0 ? '−' : ''}$${digits}`;
}
const tasks = (value: number | null): string => (value === null ? 'never' : count(Math.round(value)));
function months(value: number | null): string {
  if (value === null) return 'never';
  // Under a month reads better in days.
  return value < 1 ? `${(value * 30.44).toFixed(1)} days` : `${value.toFixed(1)} months`;
}
const figure = (value: number | null): string => (value === null ? '—' : Math.abs(value) >= 1000 ? count(Math.round(value)) : value.toPrecision(3));

function Tally(props: { title: string; rows: [string, string][] }) {
  return (
    <div className="tally">
      <h3>{props.title}</h3>
      <dl>{props.rows.map(([key, value]) => <div key={key}><dt>{key}</dt><dd>{value}</dd></div>)}</dl>
    </div>
  );
}

function Economics(props: { view: EconomicsView }) {
  const { view } = props;
  return (
    <>
      <p className="muted">
        Priced from evaluation <a className="mono" href={`#/evals/${encodeURIComponent(view.evaluation.id)}`}>{view.evaluation.id}</a> ({time(view.evaluation.createdAt)}) at {count(view.tasksPerMonth)} tasks a month over {view.horizonMonths} months.
      </p>
      <p className={view.paysBack ? 'notice' : 'error'} data-testid="economics-verdict">
        {view.paysBack
          ? <>The tuned path pays back after <strong>{months(view.paybackMonths)}</strong> (crossover at {tasks(view.crossoverTasks)} tasks) and saves <strong>{usd(view.lifetime.savingUsd)}</strong> over {view.horizonMonths} months.</>
          : <>The tuned path does not pay back over {view.horizonMonths} months at this traffic ({view.crossoverTasks === null ? 'it never catches up' : `crossover at ${tasks(view.crossoverTasks)} tasks`}).</>}
      </p>
      <div className="tallies">
        <Tally title="Per 1,000 tasks" rows={[['hosted', usd(view.per1000.hostedUsd)], ['tuned serving', usd(view.per1000.tunedServingUsd)], ['tuned all-in', usd(view.per1000.tunedAllInUsd)]]} />
        <Tally title="Per month" rows={[['hosted', usd(view.monthly.hostedUsd)], ['tuned serving', usd(view.monthly.tunedServingUsd)], ['saving', usd(view.monthly.savingUsd)]]} />
        <Tally title="One-off" rows={[['training', `${usd(view.oneOff.trainingUsd)} (${view.oneOff.trainingHours.toFixed(2)} h)`], ['data', usd(view.oneOff.dataGenerationUsd)], ['total', usd(view.oneOff.totalUsd)]]} />
        <Tally title="Over the horizon" rows={[['tasks', tasks(view.lifetime.tasks)], ['hosted', usd(view.lifetime.hostedUsd)], ['tuned', usd(view.lifetime.tunedUsd)]]} />
      </div>
      <div className="panel">
        <h2>Cumulative cost</h2>
        <CostCurveChart view={view} />
        <p className="muted small">The yellow point is the crossover: past {tasks(view.crossoverTasks)} tasks the tuned path has cost less in all.</p>
      </div>
      <h2>Sensitivity</h2>
      <table data-testid="sensitivity">
        <thead><tr><th>Scenario</th><th className="num">Hosted $ / 1k</th><th className="num">Tuned $ / 1k</th><th className="num">Crossover (tasks)</th><th className="num">Payback</th><th className="num">Saving over the horizon</th><th>Pays back</th></tr></thead>
        <tbody>
          {view.sensitivity.map((row) => (
            <tr key={row.scenario} className={row.scenario === 'hosted price ×1, volume ×1' ? 'highlight' : ''}>
              <td>{row.scenario}</td>
              <td className="num">{usd(row.per1000HostedUsd)}</td>
              <td className="num">{usd(row.per1000TunedUsd)}</td>
              <td className="num">{tasks(row.crossoverTasks)}</td>
              <td className="num">{months(row.paybackMonths)}</td>
              <td className="num">{usd(row.lifetimeSavingUsd)}</td>
              <td>{row.paysBack ? <Badge kind="succeeded">yes</Badge> : <Badge kind="failed">no</Badge>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Predicted against measured</h2>
      {view.actual === null ? <p className="muted">No gateway call is logged yet: serve the task through understudy serve, and its calls are measured here.</p> : (
        <>
          <p className="muted small">{count(view.actual.calls)} logged gateway calls{view.actual.window === null ? '' : `, ${time(view.actual.window.from)} – ${time(view.actual.window.to)}`}.</p>
          <table data-testid="predicted-measured">
            <thead><tr><th>Figure</th><th className="num">Predicted</th><th className="num">Measured</th><th className="num">Measured / predicted</th></tr></thead>
            <tbody>
              {view.actual.figures.map((row) => (
                <tr key={row.figure}>
                  <td>{row.figure}</td>
                  <td className="num">{figure(row.predicted)}</td>
                  <td className="num">{figure(row.measured)}</td>
                  <td className="num">{row.ratio === null ? '—' : `×${row.ratio.toFixed(2)}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {view.actual.notes.length > 0 && <ul className="muted small">{view.actual.notes.map((note) => <li key={note}>{note}</li>)}</ul>}
        </>
      )}
      <h2>Where the inputs come from</h2>
      <dl className="settings sources">
        <div><dt>Hosted</dt><dd>{view.sources.hosted}</dd></div>
        <div><dt>Fine-tune</dt><dd>{view.sources.fineTune}</dd></div>
        <div><dt>Serving</dt><dd>{view.sources.serving}</dd></div>
      </dl>
      {view.notes.length > 0 && <ul className="muted small">{view.notes.map((note) => <li key={note}>{note}</li>)}</ul>}
    </>
  );
}

/** `understudy economics` from the newest stored evaluation that measured it, with predicted against measured. */
export function EconomicsPage() {
  const view = useFetch<EconomicsView>('economics');
  return (
    <section>
      <h1>Economics</h1>
      <Status loaded={view}>{(loaded) => <Economics view={loaded} />}</Status>
    </section>
  );
}
