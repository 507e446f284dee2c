// Before the tests: the worker's virtual environment and the real offline GGUFs (SmolLM2, Gemma 3 270M), all cached.
// Idempotent: a second run only checks the cache (size and sha256).
import { pullCatalogModel } from '../src/adapters/models/acquire.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { TEST_MODEL_IDS } from '../test/helpers/assets.ts';

const environment = await ensureWorkerEnvironment({ onProgress: (progress) => process.stderr.write(`setup [${progress.step}/${progress.totalSteps}] ${progress.message}\n`) });
const models: string[] = [];
for (const id of TEST_MODEL_IDS) {
  const model = await pullCatalogModel(id, {
    verifyCached: true,
    onProgress: (progress) => process.stderr.write(`model ${id} [${progress.step}/${progress.totalSteps}] ${progress.message}\n`),
  });
  models.push(model.ggufPath);
}
process.stderr.write(`test assets ready: python ${environment.python}, models ${models.join(', ')}\n`);
