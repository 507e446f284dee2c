import { existsSync } from 'node:fs';
import { requireCatalogModel } from '../../src/adapters/models/catalog.ts';
import { cachedModelPath } from '../../src/adapters/models/acquire.ts';

/** The real open checkpoint every model test runs on by default. */
export const TEST_MODEL_ID = 'smollm2-135m-instruct';

/** Every offline catalog model the tests use; `npm run test:assets` pulls them all. */
export const TEST_MODEL_IDS = [TEST_MODEL_ID, 'gemma-3-270m'] as const;

export type TestModelId = (typeof TEST_MODEL_IDS)[number];

/**
 * The cached GGUF of a test model (`npm run test:assets` puts it there); fails loudly when absent.
 * `UNDERSTUDY_TEST_GGUF` overrides the default model's file only.
 */
export function testModelPath(id: TestModelId = TEST_MODEL_ID): string {
  const override = process.env.UNDERSTUDY_TEST_GGUF;
  const file = id === TEST_MODEL_ID && override !== undefined && override !== '' ? override : cachedModelPath(requireCatalogModel(id));
  if (file === undefined) throw new Error(`test model ${id} has no offline source in the catalog`);
  if (!existsSync(file)) throw new Error(`test model missing at ${file}: run \`npm run test:assets\` (or \`understudy models pull ${id}\`) first`);
  return file;
}
