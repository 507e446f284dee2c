// `npm run bench:gateway [-- --seconds S --concurrency 1,16,128 --rounds R]`: one fast local upstream on 127.0.0.1,
// called directly, through Understudy's gateway (`understudy serve`, logging on) and through the Portkey gateway
// (npm @portkey-ai/gateway, the same upstream as a custom OpenAI host), side by side in one run. Each system runs in
// its own process; the load generator is this process (keep-alive HTTP, N clients in closed loops). Order rotates
// between rounds. Prints added latency p50/p99 over direct calls and requests/s per concurrency, then one JSON line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { percentile } from '../src/core/statistics.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, concurrency: { type: 'string', default: '1,16,128' }, rounds: { type: 'string', default: '2' } } });
const SECONDS = Number(values.seconds);
const LEVELS = values.concurrency.split(',').map(Number);
const ROUNDS = Number(values.rounds);
const TARGET = { addedP50MsAtOne: 1, throughputVsPortkey: 1.5 };

const UPSTREAM_SOURCE = `
const http = require('node:http');
const body = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'card_arrival' }, finish_reason: 'stop' }], usage: { prompt_tokens: 50, completion_tokens: 3, total_tokens: 53 } });
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); }); });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
`;

function startProcess(command: string, args: string[], ready: (line: string) => number | undefined, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? PACKAGE_ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start: ${buffer.slice(-500)}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      for (const line of buffer.split('\n')) {
        const port = ready(line);
        if (port !== undefined) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          child.stderr!.resume();
          resolve({ child, port });
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (buffer += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${buffer.slice(-500)}`)));
  });
}

interface Target {
  name: string;
  port: number;
  path: string;
  headers: Record<string, string>;
  model: string;
}

async function load(target: Target, clients: number, seconds: number): Promise<{ requests: number; errors: number; latencies: number[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const body = JSON.stringify({ model: target.model, messages: [{ role: 'user', content: 'Where is my card?' }], max_tokens: 4 });
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      const call = request({ hostname: '127.0.0.1', port: target.port, path: target.path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...target.headers } }, (response) => {
        response.resume();
        response.on('end', () => {
          if (response.statusCode === 200) latencies.push(performance.now() - started);
          else errors += 1;
          resolve();
        });
      });
      call.on('error', () => {
        errors += 1;
        resolve();
      });
      call.end(body);
    });
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < deadline) await one();
  }));
  agent.destroy();
  return { requests: latencies.length, errors, latencies };
}

const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-bench-gateway-'));
const children: ChildProcess[] = [];
const portFromJson = (line: string): number | undefined => {
  try {
    const parsed = JSON.parse(line) as { port?: number; url?: string; event?: string };
    if (typeof parsed.port === 'number') return parsed.port;
    if (parsed.event === 'listening' && parsed.url !== undefined) return Number(new URL(parsed.url).port);
  } catch {
    // not a JSON line
  }
  return undefined;
};
try {
  const upstream = await startProcess(process.execPath, ['-e', UPSTREAM_SOURCE], portFromJson);
  children.push(upstream.child);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}/v1`;
  const config = path.join(directory, 'understudy.yaml');
  writeFileSync(
    config,
    defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
      .replace(/\ngateway:\n(?: {2}.*\n|#.*\n)*/, '\ngateway:\n  port: 0\n  routes:\n    frontier: { target: "provider:frontier" }\n')
      .replace(/\nproviders: \{\}\n/, `\nproviders:\n  frontier: { kind: openai-compatible, baseUrl: "${upstreamUrl}", model: gpt-4o-mini, priceAs: openai, maxRetries: 0, maxConcurrency: 1024 }\n`),
  );
  const understudy = await startProcess(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'understudy.js'), 'serve', '--config', config, '--workspace', path.join(directory, 'ws'), '--json'], portFromJson);
  children.push(understudy.child);
  const portkeyPort = 20000 + Math.floor(Math.random() * 20000);
  const portkey = await startProcess(process.execPath, [path.join(PACKAGE_ROOT, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js'), `--port=${portkeyPort}`], (line) => (line.includes(String(portkeyPort)) ? portkeyPort : undefined));
  children.push(portkey.child);

  const targets: Target[] = [
    { name: 'direct', port: upstream.port, path: '/v1/chat/completions', headers: {}, model: 'gpt-4o-mini' },
    { name: 'understudy', port: understudy.port, path: '/v1/chat/completions', headers: {}, model: 'frontier' },
    { name: 'portkey', port: portkey.port, path: '/v1/chat/completions', headers: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstreamUrl, authorization: 'Bearer bench' }, model: 'gpt-4o-mini' },
  ];
  // Warm-up and a check that each system answers.
  for (const target of targets) {
    const warm = await load(target, 4, 1);
    if (warm.requests === 0) throw new Error(`${target.name} answered no request (${warm.errors} errors)`);
  }
  const results = new Map<string, { requests: number; errors: number; latencies: number[]; seconds: number }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const clients of LEVELS) {
      const order = targets.map((_, index) => targets[(index + round) % targets.length]!);
      for (const target of order) {
        const measured = await load(target, clients, SECONDS);
        const key = `${target.name}@${clients}`;
        const previous = results.get(key) ?? { requests: 0, errors: 0, latencies: [], seconds: 0 };
        results.set(key, { requests: previous.requests + measured.requests, errors: previous.errors + measured.errors, latencies: previous.latencies.concat(measured.latencies), seconds: previous.seconds + SECONDS });
        process.stderr.write(`[bench:gateway] round ${round + 1}, ${clients} clients, ${target.name}: ${Math.round(measured.requests / SECONDS)} req/s, ${measured.errors} errors\n`);
      }
    }
  }
  const rows: Record<string, number | string>[] = [];
  const figures: Record<string, unknown> = {};
  for (const clients of LEVELS) {
    const stat = (name: string) => {
      const entry = results.get(`${name}@${clients}`)!;
      return { rps: entry.requests / entry.seconds, p50: percentile(entry.latencies, 50), p99: percentile(entry.latencies, 99), errors: entry.errors };
    };
    const direct = stat('direct');
    const ours = stat('understudy');
    const theirs = stat('portkey');
    const row = {
      clients,
      directRps: Math.round(direct.rps),
      understudyRps: Math.round(ours.rps),
      portkeyRps: Math.round(theirs.rps),
      understudyAddedP50Ms: Number((ours.p50 - direct.p50).toFixed(3)),
      understudyAddedP99Ms: Number((ours.p99 - direct.p99).toFixed(3)),
      portkeyAddedP50Ms: Number((theirs.p50 - direct.p50).toFixed(3)),
      portkeyAddedP99Ms: Number((theirs.p99 - direct.p99).toFixed(3)),
      understudyVsPortkeyRps: Number((ours.rps / theirs.rps).toFixed(2)),
      errors: direct.errors + ours.errors + theirs.errors,
    };
    rows.push(row);
    figures[`c${clients}`] = row;
  }
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  process.stdout.write(`\nbench:gateway — ${cpu}, ${os.availableParallelism()} cores; ${SECONDS} s per system per level, ${ROUNDS} rounds, rotated order; Understudy logs every call\n\n`);
  const header = Object.keys(rows[0]!);
  process.stdout.write(`${header.join('\t')}\n${rows.map((row) => header.map((key) => String(row[key])).join('\t')).join('\n')}\n\n`);
  const atOne = rows.find((row) => row.clients === 1);
  const scaled = rows.filter((row) => row.clients === 16 || row.clients === 128);
  const pass = {
    addedP50AtOne: atOne === undefined ? null : (atOne.understudyAddedP50Ms as number) < TARGET.addedP50MsAtOne,
    throughputVsPortkey: scaled.length === 0 ? null : scaled.every((row) => (row.understudyVsPortkeyRps as number) >= TARGET.throughputVsPortkey),
  };
  process.stdout.write(`targets: added p50 < ${TARGET.addedP50MsAtOne} ms at 1 client: ${pass.addedP50AtOne}; ≥ ${TARGET.throughputVsPortkey}× Portkey's req/s at 16 and 128: ${pass.throughputVsPortkey}\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'gateway', machine: { cpu, cores: os.availableParallelism() }, seconds: SECONDS, rounds: ROUNDS, levels: figures, target: TARGET, pass })}\n`);
} finally {
  for (const child of children) child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 500));
  rmSync(directory, { recursive: true, force: true });
}
