// Before the tests: the worker's virtual environment and the real SmolLM2 GGUF, both cached.
// Idempotent: a second run only checks the cache.
import { pullCatalogModel } from '../src/adapters/models/acquire.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { TEST_MODEL_ID } from '../test/helpers/assets.ts';

const environment = await ensureWorkerEnvironment({ onProgress: (progress) => process.stderr.write(`setup [${progress.step}/${progress.totalSteps}] ${progress.message}\n`) });
const model = await pullCatalogModel(TEST_MODEL_ID, { verifyCached: true, onProgress: (progress) => process.stderr.write(`model: ${progress.message}\n`) });
process.stderr.write(`test assets ready: python ${environment.python}, model ${model.ggufPath}\n`);
