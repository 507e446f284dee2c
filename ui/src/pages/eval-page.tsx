import { useState } from 'react';
import type { EvalCandidateView, EvalDisagreementView, EvalMetricView, EvalView, Page } from '../../../src/contracts/dashboard.ts';
import { queryString } from '../api.ts';
import { ConfusionMatrix } from '../components/confusion-matrix.tsx';
import { CostQualityChart } from '../components/cost-quality-chart.tsx';
import { Pager } from '../components/pager.tsx';
import { Badge, Status } from '../components/status.tsx';
import { count, shortHash, time } from '../format.ts';
import { diffAgainst } from '../text-diff.ts';
import { useFetch } from '../use-fetch.ts';

/** A rate as a percentage, an aggregate (F1, a score) to three decimals. */
const metricValue = (metric: EvalMetricView, value: number): string => (metric.kind === 'rate' ? `${(value * 100).toFixed(1)}%` : value.toFixed(3));
const signed = (metric: EvalMetricView, value: number): string => `${value >= 0 ? '+' : '−'}${metric.kind === 'rate' ? `${Math.abs(value * 100).toFixed(1)}` : Math.abs(value).toFixed(3)}`;
const dollars = (value: number | null): string => (value === null ? 'unknown' : `$${value < 0.01 ? value.toPrecision(2) : value.toFixed(2)}`);

function CandidatesTable(props: { view: EvalView }) {
  const { view } = props;
  return (
    <table data-testid="eval-candidates">
      <thead>
        <tr>
          <th>Candidate</th>
          {view.metrics.map((metric) => <th key={metric.id} className="num" title={metric.description}>{metric.label} [95%]</th>)}
          <th className="num">Invalid</th><th className="num">$ / 1,000 tasks</th><th className="num">p50 ms</th><th className="num">p95 ms</th>
        </tr>
      </thead>
      <tbody>
        {view.candidateResults.map((candidate) => (
          <tr key={candidate.name}>
            <td><strong>{candidate.name}</strong>{candidate.name === view.baseline && <Badge kind="interrupted">baseline</Badge>}<div className="muted small">{candidate.describe}</div></td>
            {view.metrics.map((metric) => {
              const estimate = candidate.metrics[metric.id];
              return <td key={metric.id} className="num">{estimate === undefined ? '—' : <>{metricValue(metric, estimate.value)}<div className="muted small">{metricValue(metric, estimate.low)} – {metricValue(metric, estimate.high)}</div></>}</td>;
            })}
            <td className="num">{count(candidate.invalidAnswers)}</td>
            <td className="num">{dollars(candidate.costPer1000Usd)}</td>
            <td className="num">{Math.round(candidate.latencyP50Ms)}</td>
            <td className="num">{Math.round(candidate.latencyP95Ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ComparisonsTable(props: { view: EvalView }) {
  const { view } = props;
  const primary = view.metrics.find((metric) => metric.id === view.primaryMetricId);
  if (view.comparisons.length === 0 || primary === undefined) return null;
  return (
    <table data-testid="eval-comparisons">
      <thead><tr><th>Candidate − {view.baseline}</th>{view.metrics.map((metric) => <th key={metric.id} className="num">{metric.label} [95%]</th>)}<th className="num">p ({primary.label}, Holm)</th></tr></thead>
      <tbody>
        {view.comparisons.map((comparison) => (
          <tr key={comparison.candidate}>
            <td>{comparison.candidate}</td>
            {view.metrics.map((metric) => {
              const difference = comparison.metrics[metric.id];
              return <td key={metric.id} className="num">{difference === undefined ? '—' : <>{signed(metric, difference.difference)}{metric.kind === 'rate' ? ' pts' : ''} <span className="muted small">[{signed(metric, difference.low)}, {signed(metric, difference.high)}]</span></>}</td>;
            })}
            <td className="num">{comparison.holmPValue.toPrecision(3)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Answer(props: { reference: string | null; answer: EvalDisagreementView['answers'][number] }) {
  const { answer } = props;
  if (props.reference === null) return <span className="mono">{answer.output}</span>;
  return (
    <span className={`mono answer-diff ${answer.correct ? 'right' : 'wrong'}`}>
      {diffAgainst(props.reference, answer.output).map((part, index) => (part.changed ? <mark key={index}>{part.text}</mark> : <span key={index}>{part.text}</span>))}
    </span>
  );
}

function Disagreements(props: { id: string; candidates: readonly EvalCandidateView[]; total: number }) {
  const [offset, setOffset] = useState(0);
  const page = useFetch<Page<EvalDisagreementView>>(`evals/${encodeURIComponent(props.id)}/disagreements${queryString({ offset, limit: 20 })}`);
  if (props.total === 0) return <p className="muted">The candidates give the same answer on every example.</p>;
  return (
    <Status loaded={page}>
      {(loaded) => (
        <>
          <Pager offset={loaded.offset} limit={loaded.limit} total={loaded.total} onOffset={setOffset} />
          <table data-testid="disagreements">
            <thead><tr><th>Input</th><th>Reference</th>{props.candidates.map((candidate) => <th key={candidate.name}>{candidate.name}</th>)}</tr></thead>
            <tbody>
              {loaded.items.map((item) => (
                <tr key={item.exampleId} data-example-id={item.exampleId}>
                  <td className="input">{item.input}</td>
                  <td className="answer mono">{item.reference ?? '—'}</td>
                  {props.candidates.map((candidate) => {
                    const answer = item.answers.find((entry) => entry.candidate === candidate.name);
                    return <td key={candidate.name} className="answer">{answer === undefined ? '—' : <Answer reference={item.reference} answer={answer} />}</td>;
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Status>
  );
}

function EvalReport(props: { view: EvalView }) {
  const { view } = props;
  const [confusionOf, setConfusionOf] = useState(view.candidateResults.find((candidate) => candidate.name !== view.baseline)?.name ?? view.baseline);
  const primary = view.metrics.find((metric) => metric.id === view.primaryMetricId);
  const priced = view.candidateResults.flatMap((candidate) => {
    const estimate = candidate.metrics[view.primaryMetricId];
    return candidate.costPer1000Usd === null || estimate === undefined ? [] : [{ name: candidate.name, costPer1000Usd: candidate.costPer1000Usd, ...estimate }];
  });
  const unpriced = view.candidateResults.filter((candidate) => candidate.costPer1000Usd === null).map((candidate) => candidate.name);
  const matrix = view.confusion?.byCandidate[confusionOf];
  return (
    <>
      <p className="muted">
        {time(view.createdAt)} · eval set {view.dataset.name ?? view.dataset.id} · {count(view.examples)} examples · hash <span className="mono">{shortHash(view.contentHash)}</span>
      </p>
      {view.gate !== null && <p className={view.gate.pass ? 'notice' : 'error'} data-testid="gate"><strong>{view.gate.pass ? 'Go' : 'No go'}</strong> for {view.gate.candidate}: {view.gate.reason}</p>}
      <h2>Candidates</h2>
      <CandidatesTable view={view} />
      {view.comparisons.length > 0 && <><h2>Against the baseline</h2><ComparisonsTable view={view} /></>}
      <div className="two-columns eval-charts">
        <div className="panel">
          <h2>Cost and {primary?.label ?? view.primaryMetric}</h2>
          {priced.length === 0 ? <p className="muted">No candidate has a known price.</p> : <CostQualityChart points={priced} metric={primary?.label ?? view.primaryMetric} />}
          {unpriced.length > 0 && <p className="muted small">No known price: {unpriced.join(', ')}.</p>}
        </div>
        {view.confusion !== null && (
          <div className="panel">
            <h2>Confusions</h2>
            <label className="field inline">Candidate
              <select aria-label="Confusion matrix of" value={confusionOf} onChange={(event) => setConfusionOf(event.target.value)}>
                {view.candidateResults.map((candidate) => <option key={candidate.name} value={candidate.name}>{candidate.name}</option>)}
              </select>
            </label>
            {matrix !== undefined && <ConfusionMatrix labels={view.confusion.labels} counts={matrix} />}
          </div>
        )}
      </div>
      <h2>Disagreements <span className="muted">({count(view.disagreements)})</span></h2>
      <p className="muted small">Examples the candidates answer differently; what differs from the reference is highlighted.</p>
      <Disagreements id={view.id} candidates={view.candidateResults} total={view.disagreements} />
    </>
  );
}

/** One stored evaluation. */
export function EvalPage(props: { id: string }) {
  const view = useFetch<EvalView>(`evals/${encodeURIComponent(props.id)}`);
  return (
    <section>
      <h1><a href="#/evals">Evaluations</a> / <span className="mono">{props.id}</span></h1>
      <Status loaded={view}>{(loaded) => <EvalReport view={loaded} />}</Status>
    </section>
  );
}
