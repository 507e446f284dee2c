// `npm run replay -- --config understudy.yaml --workspace DIR --route ROUTE [--size N] [--concurrency C]`: replay the
// held-out set through a gateway experiment as live traffic. Every example is one user (sticky arm by hashed key);
// the client sends only the input to the route (the route's `taskFormat` gives each arm its own prompt); each answer
// is scored automatically against the reference and the score goes back through POST /v1/feedback. Afterwards run
// `understudy ab report <experiment>` and `understudy economics --actual --route ROUTE` on the same workspace.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../src/adapters/config-file.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { mapConcurrently } from '../src/core/map-concurrently.ts';
import { prepareClassificationData } from '../src/pipeline/prepare-data.ts';
import { startGateway } from '../src/surfaces/http/gateway-server.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    workspace: { type: 'string' },
    route: { type: 'string' },
    size: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    threads: { type: 'string' },
  },
});
if (values.config === undefined || values.workspace === undefined || values.route === undefined) {
  throw new InvalidInputError('usage: npm run replay -- --config understudy.yaml --workspace DIR --route ROUTE [--size N] [--concurrency C]', { field: 'arguments' });
}
const loaded = loadConfigFile(values.config);
const route = loaded.config.gateway.routes[values.route];
if (route === undefined) throw new InvalidInputError(`no route ${values.route}`, { file: loaded.file, field: 'gateway.routes' });
const store = openStore(path.join(path.resolve(values.workspace), 'understudy.db'));
const examples = prepareClassificationData(loaded, store).eval.examples.slice(0, values.size === undefined ? undefined : Number(values.size));
const gateway = await startGateway(loaded, store, { port: 0, ...(values.threads === undefined ? {} : { threads: Number(values.threads) }) });
const started = performance.now();
let done = 0;
const arms = new Map<string, { n: number; right: number }>();
try {
  await mapConcurrently(examples, Number(values.concurrency), async (example, index) => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-understudy-user': `replay-user-${index}` },
      body: JSON.stringify({ model: values.route, messages: [{ role: 'user', content: example.input }], max_tokens: loaded.config.evaluation.maxTokens, temperature: 0 }),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    const body = (await response.json()) as { choices: { message: { content: string } }[] };
    const answer = body.choices[0]!.message.content.trim();
    const right = answer === example.label;
    const arm = response.headers.get('x-understudy-arm') ?? 'none';
    const tally = arms.get(arm) ?? { n: 0, right: 0 };
    tally.n += 1;
    tally.right += right ? 1 : 0;
    arms.set(arm, tally);
    const feedback = await fetch(`${gateway.url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: response.headers.get('x-request-id'), score: right ? 1 : 0, ...(right ? {} : { correction: example.label }) }),
    });
    if (!feedback.ok) throw new Error(`feedback HTTP ${feedback.status}: ${await feedback.text()}`);
    done += 1;
    if (done % 50 === 0) process.stderr.write(`[replay] ${done}/${examples.length}\n`);
  });
} finally {
  await gateway.close();
  store.close();
}
const seconds = (performance.now() - started) / 1000;
for (const [arm, tally] of arms) process.stdout.write(`${arm}: ${tally.n} requests, ${((tally.right / tally.n) * 100).toFixed(1)}% right\n`);
process.stdout.write(`${JSON.stringify({ replay: values.route, examples: examples.length, seconds, arms: Object.fromEntries(arms) })}\n`);
