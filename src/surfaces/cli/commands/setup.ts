import { ensureWorkerEnvironment, type TorchVariant } from '../../../adapters/worker/python-env.ts';
import type { Output } from '../output.ts';

export async function runSetup(options: { torch: TorchVariant; torchIndexUrl?: string; force?: boolean; json?: boolean }, output: Output): Promise<void> {
  const task = output.task('setup', 5, 'steps');
  const environment = await ensureWorkerEnvironment({
    torch: options.torch,
    torchIndexUrl: options.torchIndexUrl,
    force: options.force,
    onProgress: (progress) => task.update(progress.step, { phase: progress.message }, progress.totalSteps),
  });
  task.done(environment.created ? `created ${environment.venvDir}` : `already set up: ${environment.venvDir}`);
  if (!output.json) for (const [name, version] of Object.entries(environment.versions)) output.info(`  ${name.padEnd(14)} ${version}`);
  output.result({ ok: true, command: 'setup', ...environment });
}
