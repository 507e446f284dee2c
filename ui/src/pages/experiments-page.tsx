import { useState } from 'react';
import type { ExperimentArmView, ExperimentView, Page } from '../../../src/contracts/dashboard.ts';
import { api, queryString } from '../api.ts';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { Pager } from '../components/pager.tsx';
import { Badge, Status } from '../components/status.tsx';
import { count, time } from '../format.ts';
import { useFetch } from '../use-fetch.ts';
import { usePolling } from '../use-polling.ts';

const percent = (value: number | null): string => (value === null ? '—' : `${(value * 100).toFixed(1)}%`);
const points = (value: number): string => `${value >= 0 ? '+' : '−'}${Math.abs(value * 100).toFixed(1)}`;
const milliseconds = (value: number | null): string => (value === null ? '—' : `${Math.round(value)}`);
const dollars = (value: number | null): string => (value === null ? 'unknown' : `$${value < 0.01 ? value.toPrecision(2) : value.toFixed(2)}`);
const RECOMMENDATION_KIND = { PROMOTE: 'succeeded', 'KEEP RUNNING': 'running', 'ROLL BACK': 'failed' } as const;
const STATE_KIND = { running: 'running', promoted: 'succeeded', 'rolled-back': 'interrupted' } as const;

type Decision = { experiment: ExperimentView; action: 'promote' | 'rollback' };

function ArmRow(props: { arm: 'incumbent' | 'candidate'; view: ExperimentArmView }) {
  const { view } = props;
  return (
    <tr data-arm={props.arm}>
      <td>{props.arm}</td>
      <td className="mono">{view.target}</td>
      <td className="num" data-testid="arm-requests">{count(view.calls)}</td>
      <td className="num">{count(view.errors)}</td>
      <td className="num">{count(view.fallbacks)}</td>
      <td className="num">{percent(view.quality)}{view.quality === null ? '' : <span className="muted small"> [{percent(view.qualityLow)}, {percent(view.qualityHigh)}]</span>}</td>
      <td className="num">{dollars(view.costPer1000Usd)}</td>
      <td className="num">{milliseconds(view.latencyP50Ms)}</td>
      <td className="num">{milliseconds(view.latencyP95Ms)}</td>
    </tr>
  );
}

function ExperimentCard(props: { experiment: ExperimentView; onDecide: (decision: Decision) => void }) {
  const { experiment } = props;
  const { srm, sequential } = experiment;
  return (
    <article className="panel experiment" data-testid="experiment" data-experiment={experiment.name}>
      <header className="experiment-header">
        <h2 className="experiment-name mono">{experiment.name}</h2>
        <span className="muted">route <span className="mono">{experiment.route}</span></span>
        <Badge kind={STATE_KIND[experiment.state]}><span data-testid="experiment-state">{experiment.state}</span></Badge>
        {experiment.mode === 'shadow' && <Badge kind="edited">shadow</Badge>}
        {experiment.killed && <Badge kind="failed">killed</Badge>}
        <span className="spacer" />
        <button type="button" disabled={experiment.state === 'promoted'} onClick={() => props.onDecide({ experiment, action: 'promote' })}>Promote…</button>
        <button type="button" className="danger" disabled={experiment.state === 'rolled-back'} onClick={() => props.onDecide({ experiment, action: 'rollback' })}>Roll back…</button>
      </header>
      <p className="muted small">
        {experiment.state === 'running' ? `candidate gets ${percent(experiment.candidateWeight)} of units` : `${experiment.state} ${time(experiment.decided?.at ?? null)}${experiment.decided?.note ? ` — “${experiment.decided.note}”` : ''}`}
        {' · '}{count(experiment.calls)} logged requests · quality from feedback {count(experiment.scoring.feedback)}, validator {count(experiment.scoring.validator)}, unscored {count(experiment.scoring.unscored)}
      </p>
      <table className="arms">
        <thead><tr><th>Arm</th><th>Target</th><th className="num">Requests</th><th className="num">Errors</th><th className="num">Fallbacks</th><th className="num">Quality [95%]</th><th className="num">$ / 1,000 tasks</th><th className="num">p50 ms</th><th className="num">p95 ms</th></tr></thead>
        <tbody>
          <ArmRow arm="incumbent" view={experiment.arms.incumbent} />
          <ArmRow arm="candidate" view={experiment.arms.candidate} />
        </tbody>
      </table>
      <dl className="settings tests">
        <div>
          <dt>Sequential test</dt>
          <dd>{sequential === null ? <span className="muted">waiting for scored requests on both arms</span> : <>candidate − incumbent quality {points(sequential.difference)} points [{points(sequential.low)}, {points(sequential.high)}], always-valid p = {sequential.pValue.toPrecision(3)} <span className="muted small">(mSPRT, {sequential.n.incumbent} / {sequential.n.candidate} scored)</span></>}</dd>
        </div>
        <div>
          <dt>Sample ratio</dt>
          <dd>{srm === null ? <span className="muted">not checked ({experiment.mode === 'shadow' ? 'shadow mode' : 'no split running'})</span> : <>{count(srm.incumbent)} incumbent / {count(srm.candidate)} candidate {srm.counting}, expected {percent(srm.expectedCandidateShare)} candidate, p = {srm.pValue.toPrecision(3)} {srm.mismatch ? <Badge kind="failed">MISMATCH</Badge> : <Badge kind="succeeded">ok</Badge>}</>}</dd>
        </div>
        <div>
          <dt>Recommendation</dt>
          <dd><Badge kind={RECOMMENDATION_KIND[experiment.recommendation]}><span data-testid="recommendation">{experiment.recommendation}</span></Badge> {experiment.reason}</dd>
        </div>
      </dl>
    </article>
  );
}

/** Live A/B experiments (`understudy ab report`, refreshed every 3 s) with promote and roll back behind a confirmation. */
export function ExperimentsPage() {
  const [offset, setOffset] = useState(0);
  const [changed, setChanged] = useState(0);
  const [decision, setDecision] = useState<Decision | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const tick = usePolling(3000);
  const experiments = useFetch<Page<ExperimentView>>(`experiments${queryString({ offset, limit: 10 })}`, tick + changed);
  const decide = async (note: string) => {
    if (decision === null) return;
    const name = decision.experiment.name;
    const updated = await api<ExperimentView>(`experiments/${encodeURIComponent(name)}/${decision.action}`, { method: 'POST', body: note === '' ? {} : { note } });
    setMessage(`${name}: ${updated.state === 'promoted' ? `promoted; every request on ${updated.route} now goes to the candidate` : `rolled back; every request on ${updated.route} now goes to the incumbent`}.`);
    setChanged((value) => value + 1);
  };
  return (
    <section>
      <h1>Experiments</h1>
      {message !== null && <p className="notice" role="status" data-testid="experiment-message">{message}</p>}
      <Status loaded={experiments}>
        {(page) => page.total === 0 ? <p className="muted">No experiment: add one to a route under gateway.routes (experiment: &#123; name, candidate, weight &#125;).</p> : (
          <>
            {page.total > page.limit && <Pager offset={page.offset} limit={page.limit} total={page.total} onOffset={setOffset} />}
            {page.items.map((experiment) => <ExperimentCard key={experiment.name} experiment={experiment} onDecide={setDecision} />)}
          </>
        )}
      </Status>
      {decision !== null && (
        <ConfirmDialog
          title={decision.action === 'promote' ? `Promote ${decision.experiment.name}?` : `Roll back ${decision.experiment.name}?`}
          confirmLabel={decision.action === 'promote' ? 'Promote' : 'Roll back'}
          danger={decision.action === 'rollback'}
          onConfirm={decide}
          onClose={() => setDecision(null)}
        >
          {decision.action === 'promote'
            ? <p>Every request on route <span className="mono">{decision.experiment.route}</span> will go to the candidate <span className="mono">{decision.experiment.arms.candidate.target}</span>; the incumbent stays the fallback. A running gateway applies it within a second.</p>
            : <p>Every request on route <span className="mono">{decision.experiment.route}</span> will go to the incumbent <span className="mono">{decision.experiment.arms.incumbent.target}</span>. A running gateway applies it within a second.</p>}
          <p className="muted small">Current recommendation: {decision.experiment.recommendation} — {decision.experiment.reason}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
