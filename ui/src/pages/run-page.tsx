import { useEffect, useState } from 'react';
import type { LossPointView, RunUpdatesView, RunView, StopRunView, ValidationPointView } from '../../../src/contracts/dashboard.ts';
import { api } from '../api.ts';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { LossChart } from '../components/loss-chart.tsx';
import { Badge, Status } from '../components/status.tsx';
import { duration, number, shortHash, time } from '../format.ts';
import { useFetch } from '../use-fetch.ts';

const POLL_MS = 1000;

/** Later points replace earlier ones at the same step (a resumed run logs some steps again). */
function merge<Point extends { step: number }>(points: readonly Point[], added: readonly Point[]): Point[] {
  if (added.length === 0) return points as Point[];
  const byStep = new Map(points.map((point) => [point.step, point]));
  for (const point of added) byStep.set(point.step, point);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

function Settings(props: { title: string; values: Record<string, unknown> | null }) {
  if (props.values === null) return null;
  return (
    <div className="panel">
      <h2>{props.title}</h2>
      <dl className="settings">
        {Object.entries(props.values).map(([key, value]) => <div key={key}><dt>{key}</dt><dd className="mono">{typeof value === 'object' ? JSON.stringify(value) : String(value)}</dd></div>)}
      </dl>
    </div>
  );
}

/** One run: its provenance (data, base, spec hashes), settings, artifacts, and loss curves that follow it live. */
export function RunPage(props: { id: string }) {
  const run = useFetch<RunView>(`runs/${encodeURIComponent(props.id)}`);
  return <Status loaded={run}>{(value) => <RunDetails key={value.id} run={value} />}</Status>;
}

function RunDetails(props: { run: RunView }) {
  const { run } = props;
  const [loss, setLoss] = useState<LossPointView[]>(run.updates.loss);
  const [validation, setValidation] = useState<ValidationPointView[]>(run.updates.validation);
  const [live, setLive] = useState<Pick<RunUpdatesView, 'status' | 'progress' | 'lastSequence' | 'more'>>(run.updates);
  const [pollError, setPollError] = useState<string | null>(null);
  const [confirmStop, setConfirmStop] = useState(false);
  const [stopSent, setStopSent] = useState<string | null>(null);

  useEffect(() => {
    if (live.status !== 'running' && !live.more) return undefined;
    const timer = window.setTimeout(() => {
      api<RunUpdatesView>(`runs/${encodeURIComponent(run.id)}/updates?after=${live.lastSequence}`).then(
        (updates) => {
          setLoss((points) => merge(points, updates.loss));
          setValidation((points) => merge(points, updates.validation));
          setLive({ status: updates.status, progress: updates.progress ?? live.progress, lastSequence: updates.lastSequence, more: updates.more });
          setPollError(null);
        },
        (error: unknown) => {
          setPollError(error instanceof Error ? error.message : String(error));
          setLive({ ...live });
        },
      );
    }, live.more ? 0 : POLL_MS);
    return () => window.clearTimeout(timer);
  }, [live, run.id]);

  const progress = live.progress;
  return (
    <section>
      <p><a href="#/runs">← Runs</a></p>
      <h1 className="with-actions"><span><span className="mono">{run.id}</span> <Badge kind={live.status}>{live.status}</Badge></span>
        {live.status === 'running' && <button type="button" className="danger" onClick={() => setConfirmStop(true)}>Stop…</button>}
      </h1>
      {confirmStop && (
        <ConfirmDialog title={`Stop run ${run.id}?`} confirmLabel="Stop the run" danger withNote={false} onClose={() => setConfirmStop(false)} onConfirm={async () => {
          const stopped = await api<StopRunView>(`runs/${encodeURIComponent(run.id)}/stop`, { method: 'POST', body: {} });
          setStopSent(`Sent SIGINT to process ${stopped.pid}: it stops the worker and marks the run interrupted.`);
        }}>
          <p>The training process stops its worker; the run is marked <b>interrupted</b>. Its checkpoints stay, so <span className="mono">understudy train --resume {run.id}</span> can continue it.</p>
        </ConfirmDialog>
      )}
      {stopSent !== null && live.status === 'running' && <p className="muted small" role="status">{stopSent}</p>}
      <p className="muted">{run.method} · started {time(run.startedAt)}{run.finishedAt !== null && ` · took ${duration(run.durationSeconds)}`}{progress !== null && live.status === 'running' && ` · step ${progress.step} of ${progress.totalSteps}${progress.etaSeconds === null ? '' : `, about ${duration(progress.etaSeconds)} left`}`}</p>
      {run.error !== null && <p className="error">{run.error}</p>}
      {pollError !== null && <p className="error">Live updates failed: {pollError} (retrying)</p>}
      <div className="panel">
        <h2>Loss</h2>
        <LossChart loss={loss} validation={validation} />
        {run.best !== null && live.status !== 'running' && <p className="muted small">Best validation: step {run.best.step}, loss {number(run.best.evalLoss)} (the published adapter).</p>}
      </div>
      <div className="two-columns">
        <div className="panel">
          <h2>Provenance</h2>
          <dl className="settings">
            <div><dt>data</dt><dd>{run.dataset.name ?? run.dataset.id} · {run.dataset.exampleCount ?? '?'} examples · <span className="mono">{shortHash(run.dataset.contentHash)}</span></dd></div>
            <div><dt>base</dt><dd>{run.base.name ?? '(not registered)'} · <span className="mono">{shortHash(run.base.sha256)}</span></dd></div>
            <div><dt>chat template</dt><dd className="mono">{shortHash(run.chatTemplateSha256)}</dd></div>
            <div><dt>spec</dt><dd className="mono">{shortHash(run.specHash)}</dd></div>
            {run.worker !== null && <div><dt>worker</dt><dd>{[run.worker.device, run.worker.precision, run.worker.torchVersion && `torch ${run.worker.torchVersion}`].filter(Boolean).join(' · ')}</dd></div>}
          </dl>
        </div>
        <Settings title="LoRA" values={run.lora} />
      </div>
      <Settings title="Training" values={run.training} />
      <div className="panel">
        <h2>Artifacts</h2>
        {run.adapter === null && run.artifacts.length === 0 ? <p className="muted">None yet.</p> : (
          <table>
            <thead><tr><th>Kind</th><th>Path</th><th>sha256</th></tr></thead>
            <tbody>
              {run.adapter !== null && <tr><td>adapter (GGUF)</td><td className="mono small">{run.adapter.ggufPath}</td><td className="mono">{shortHash(run.adapter.ggufSha256)}</td></tr>}
              {run.adapter !== null && <tr><td>adapter (PEFT)</td><td className="mono small">{run.adapter.peftPath}</td><td className="mono">{shortHash(run.adapter.peftSha256)}</td></tr>}
              {run.artifacts.map((artifact) => <tr key={`${artifact.kind}:${artifact.path}`}><td>{artifact.kind}</td><td className="mono small">{artifact.path}</td><td className="mono">{shortHash(artifact.sha256)}</td></tr>)}
            </tbody>
          </table>
        )}
        {run.checkpoints.length > 0 && <p className="muted small">Checkpoints at steps {run.checkpoints.map((checkpoint) => checkpoint.best ? `${checkpoint.step} (best)` : checkpoint.step).join(', ')}.</p>}
      </div>
    </section>
  );
}
