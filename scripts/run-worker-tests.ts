// Runs the Python worker's pytest suite inside the managed worker environment, against the real GGUF.
import { spawnSync } from 'node:child_process';
import { WORKER_DIR } from '../src/adapters/paths.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { testModelPath } from '../test/helpers/assets.ts';

const environment = await ensureWorkerEnvironment();
const result = spawnSync(environment.python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests'], {
  cwd: WORKER_DIR,
  stdio: 'inherit',
  env: { ...process.env, PYTHONPATH: WORKER_DIR, UNDERSTUDY_TEST_GGUF: testModelPath(), HF_HUB_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false' },
});
process.exit(result.status ?? 1);
