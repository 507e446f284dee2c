import { existsSync } from 'node:fs';
import { findCatalogModel } from '../../src/adapters/models/catalog.ts';
import { cachedModelPath } from '../../src/adapters/models/acquire.ts';

/** The real open checkpoint every model test runs on. */
export const TEST_MODEL_ID = 'smollm2-135m-instruct';

/** The cached SmolLM2 GGUF (`npm run test:assets` puts it there); fails loudly when absent. */
export function testModelPath(): string {
  const override = process.env.UNDERSTUDY_TEST_GGUF;
  const file = override !== undefined && override !== '' ? override : cachedModelPath(findCatalogModel(TEST_MODEL_ID)!);
  if (!existsSync(file)) throw new Error(`test model missing at ${file}: run \`npm run test:assets\` (or \`understudy models pull ${TEST_MODEL_ID}\`) first`);
  return file;
}
