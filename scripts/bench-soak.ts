// `npm run bench:soak`: 1,000 requests through the embedded provider (mixed adapters, label grammars, streams,
// aborts, unknown adapters, refused schemas), printing resident and heap memory every 100 requests and the
// slope over the last 60%. A leak shows as a steady slope; allocator warm-up as an early step that flattens.
import os from 'node:os';
import { mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createEmbeddedProvider } from '../src/adapters/llm/embedded-provider.ts';
import { createCpuLlama, createLlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import type { ChatRequest, ChatStreamEvent } from '../src/contracts/provider.ts';
import { ProviderError } from '../src/core/errors.ts';
import { testModelPath } from '../test/helpers/assets.ts';
import { writeRandomLoraAdapter } from '../test/helpers/gguf-writer.ts';

const TOTAL = Number(process.argv.find((argument) => argument.startsWith('--requests='))?.split('=')[1] ?? 1000);
const LABELS = ['card_arrival', 'lost_or_stolen_card', 'exchange_rate', 'top_up_failed'];
const modelPath = testModelPath();
const adapterPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'understudy-soak-')), 'tuned.gguf');
await writeRandomLoraAdapter(adapterPath, modelPath, { seed: 5, magnitude: 0.1 });
const llama = await createCpuLlama();
// One thread: on a 2-core machine llama.cpp's spinning workers otherwise compete with Node's own thread.
const engine = await createLlamaCppEngine({ modelPath, llama, threads: 1, contextSize: 512, sequences: 4, adapters: [{ name: 'tuned', path: adapterPath }] });
const provider = createEmbeddedProvider({ engine, serving: { usdPerHour: 0.2 } });

const question = (index: number, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: index % 2 === 0 ? 'base' : 'tuned',
  messages: [
    { role: 'system', content: `Classify the banking query as one of: ${LABELS.join(', ')}.` },
    { role: 'user', content: `Query ${index % 37}: where is my card?` },
  ],
  maxTokens: 3,
  ...extra,
});
async function drain(events: AsyncIterable<ChatStreamEvent>): Promise<void> {
  for await (const event of events) if (event.type === 'done') return;
}
const outcomes = new Map<string, number>();
const count = (key: string): void => void outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
async function one(index: number): Promise<void> {
  const kind = ['plain', 'labels', 'stream', 'abort', 'unknown-model', 'bad-schema'][index % 6]!;
  try {
    if (kind === 'plain') await provider.complete(question(index));
    else if (kind === 'labels') await provider.complete(question(index, { constraint: { kind: 'labels', labels: LABELS } }));
    else if (kind === 'stream') await drain(provider.stream(question(index)));
    else if (kind === 'abort') {
      const controller = new AbortController();
      setImmediate(() => controller.abort());
      await provider.complete(question(index, { maxTokens: 50 }), { signal: controller.signal });
    } else if (kind === 'unknown-model') await provider.complete(question(index, { model: 'missing' }));
    else await provider.complete(question(index, { constraint: { kind: 'json-schema', schema: { type: 'integer', minimum: 0 } } }));
    count(`${kind}: ok`);
  } catch (error) {
    count(`${kind}: ${ProviderError.isInstance(error) ? error.failure : 'untyped error'}`);
  }
}

const rows: { requests: number; rssMiB: number; heapMiB: number }[] = [];
const sample = (requests: number): void => {
  global.gc?.();
  rows.push({ requests, rssMiB: process.memoryUsage().rss / 2 ** 20, heapMiB: process.memoryUsage().heapUsed / 2 ** 20 });
};
const started = performance.now();
sample(0);
for (let done = 0; done < TOTAL; ) {
  const size = Math.min(8, TOTAL - done);
  await Promise.all(Array.from({ length: size }, (_, offset) => one(done + offset)));
  done += size;
  if (done % 100 === 0) {
    sample(done);
    process.stderr.write(`${done}/${TOTAL} requests, rss ${rows.at(-1)!.rssMiB.toFixed(1)} MiB\n`);
  }
}
const seconds = (performance.now() - started) / 1000;
const load = engine.load();
await provider.close();
await engine.dispose();
await llama.dispose();

/** Least-squares slope per 100 requests. */
function slope(points: { x: number; y: number }[]): number {
  const meanX = points.reduce((sum, point) => sum + point.x, 0) / points.length;
  const meanY = points.reduce((sum, point) => sum + point.y, 0) / points.length;
  const numerator = points.reduce((sum, point) => sum + (point.x - meanX) * (point.y - meanY), 0);
  const denominator = points.reduce((sum, point) => sum + (point.x - meanX) ** 2, 0);
  return denominator === 0 ? 0 : (numerator / denominator) * 100;
}
// The first 40% of requests are warm-up (allocator arenas, grammar and template caches fill up); the slope is over the rest.
const warmup = Math.round(TOTAL * 0.4);
const steady = rows.filter((row) => row.requests >= warmup);
const rssSlope = slope(steady.map((row) => ({ x: row.requests, y: row.rssMiB })));
const heapSlope = slope(steady.map((row) => ({ x: row.requests, y: row.heapMiB })));
const cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
console.log(`machine: ${os.availableParallelism()} cores, ${cpu}; model: ${path.basename(modelPath)} + a rank-4 LoRA adapter; node ${process.version}; gc exposed: ${global.gc !== undefined}`);
console.log('requests   rss MiB   heap MiB');
for (const row of rows) console.log(`${String(row.requests).padStart(8)}   ${row.rssMiB.toFixed(1).padStart(7)}   ${row.heapMiB.toFixed(1).padStart(8)}`);
console.log(`outcomes: ${[...outcomes].map(([key, value]) => `${key} ${value}`).join(', ')}`);
console.log(`after the run: ${load.active} active, ${load.waiting} waiting, ${load.loadedContexts} contexts loaded; ${seconds.toFixed(1)} s`);
const flat = rssSlope < 1 && load.active === 0 && load.waiting === 0;
console.log(`resident memory slope after ${warmup} warm-up requests: ${rssSlope.toFixed(2)} MiB per 100 requests (target < 1): ${flat ? 'FLAT' : 'GROWING'}`);
console.log(
  JSON.stringify({
    bench: 'soak',
    requests: TOTAL,
    seconds: Number(seconds.toFixed(1)),
    rssStartMiB: Number(rows[0]!.rssMiB.toFixed(1)),
    rssAfterWarmupMiB: Number((steady[0]?.rssMiB ?? Number.NaN).toFixed(1)),
    rssEndMiB: Number(rows.at(-1)!.rssMiB.toFixed(1)),
    rssSlopeMiBPer100: Number(rssSlope.toFixed(3)),
    heapSlopeMiBPer100: Number(heapSlope.toFixed(3)),
    activeAfter: load.active,
    waitingAfter: load.waiting,
    outcomes: Object.fromEntries(outcomes),
    flat,
  }),
);
