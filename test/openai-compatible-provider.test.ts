import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { inspect } from 'node:util';
import { createOpenAiCompatibleProvider, type OpenAiCompatibleProviderOptions } from '../src/adapters/llm/openai-compatible-provider.ts';
import type { ChatProvider, ChatRequest, ChatResult, ChatStreamEvent, OutputConstraint } from '../src/contracts/provider.ts';
import { ProviderError } from '../src/core/errors.ts';
import {
  hangAfterHeaders,
  inSequence,
  sendCompletion,
  sendError,
  sendRaw,
  sendStream,
  serveProvider,
  startOpenAiCompatibleServer,
  type OpenAiCompatibleTestServer,
  type ScriptedHandler,
} from './helpers/openai-compatible-server.ts';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
after(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no unhandled rejections in the whole file');
});

const API_KEY = 'sk-test-THIS-IS-SECRET-0123456789';
const HELLO: ChatRequest = { messages: [{ role: 'user', content: 'Say hello' }] };

/** A server for one test, closed afterwards whatever happens. */
async function withServer(handler: ScriptedHandler, body: (server: OpenAiCompatibleTestServer) => Promise<void>): Promise<void> {
  const server = await startOpenAiCompatibleServer(handler);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** Test defaults: no real waiting between retries (the waits are recorded), deterministic jitter. */
function providerFor(server: { baseUrl: string }, overrides: Partial<OpenAiCompatibleProviderOptions> = {}): { provider: ChatProvider; sleeps: number[] } {
  const sleeps: number[] = [];
  const provider = createOpenAiCompatibleProvider({
    id: 'test-upstream',
    baseUrl: server.baseUrl,
    model: 'default-model',
    random: () => 0.5,
    sleep: async (ms) => void sleeps.push(ms),
    ...overrides,
  });
  return { provider, sleeps };
}

async function collect(stream: AsyncIterable<ChatStreamEvent>): Promise<{ deltas: string[]; result: ChatResult }> {
  const deltas: string[] = [];
  let result: ChatResult | undefined;
  for await (const event of stream) {
    if (event.type === 'delta') deltas.push(event.text);
    else result = event.result;
  }
  assert.ok(result !== undefined, 'the stream ended with a done event');
  return { deltas, result };
}

async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(ProviderError.isInstance(error), `expected a ProviderError, got ${inspect(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

const bodyOf = (server: OpenAiCompatibleTestServer, index = 0): Record<string, unknown> => server.requests[index]!.body as Record<string, unknown>;
const echo: ScriptedHandler = (request, response) => {
  const messages = (request.body as { messages: Array<{ content: string }> }).messages;
  sendCompletion(response, { text: `echo: ${messages.at(-1)!.content}`, model: 'upstream-model-2025', usage: { prompt_tokens: 11, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 4 } } });
};

test('complete: maps the request, sends the key, returns text, usage, latency and the injected price', async () => {
  await withServer(echo, async (server) => {
    let clock = 1_000;
    const { provider } = providerFor(server, {
      apiKey: API_KEY,
      headers: { 'OpenAI-Organization': 'org-test' },
      now: () => (clock += 5),
      price: (usage, model) => ({ kind: 'priced', usd: usage.promptTokens * 0.001, inputUsd: usage.promptTokens * 0.001, outputUsd: 0, source: 'override', detail: model }),
    });
    const result = await provider.complete({ ...HELLO, model: 'asked-model', topP: 0.9, seed: 42, maxTokens: 16, stop: ['\n\n'] });
    assert.equal(result.text, 'echo: Say hello');
    assert.equal(result.finishReason, 'stop');
    assert.deepEqual(result.usage, { promptTokens: 11, completionTokens: 3, cachedPromptTokens: 4 });
    assert.equal(result.provider, 'test-upstream');
    assert.equal(result.model, 'upstream-model-2025');
    assert.deepEqual(result.cost, { kind: 'priced', usd: 0.011, inputUsd: 0.011, outputUsd: 0, source: 'override', detail: 'upstream-model-2025' });
    assert.ok(result.latency.totalMs > 0);
    assert.equal(result.latency.firstTokenMs, result.latency.totalMs, 'non-streamed: first token = total');

    const [recorded] = server.requests;
    assert.equal(recorded!.path, '/v1/chat/completions');
    assert.equal(recorded!.headers.authorization, `Bearer ${API_KEY}`);
    assert.equal(recorded!.headers['openai-organization'], 'org-test');
    assert.equal(recorded!.headers['content-type'], 'application/json');
    assert.deepEqual(recorded!.body, {
      model: 'asked-model',
      messages: [{ role: 'user', content: 'Say hello' }],
      temperature: 0,
      top_p: 0.9,
      seed: 42,
      max_tokens: 16,
      stop: ['\n\n'],
    });
    await provider.close();
  });
});

test('complete: no key means no Authorization header; default model; max_completion_tokens on request; cost unknown without a price', async () => {
  await withServer(echo, async (server) => {
    const { provider } = providerFor({ baseUrl: `${server.baseUrl}/` }, { maxTokensField: 'max_completion_tokens' });
    const result = await provider.complete({ ...HELLO, maxTokens: 8, temperature: 0.7 });
    assert.equal(server.requests[0]!.headers.authorization, undefined);
    assert.equal(server.requests[0]!.path, '/v1/chat/completions', 'a trailing slash on baseUrl is dropped');
    const body = bodyOf(server);
    assert.equal(body.model, 'default-model');
    assert.equal(body.max_completion_tokens, 8);
    assert.equal(body.max_tokens, undefined);
    assert.equal(body.temperature, 0.7);
    assert.equal(result.cost.kind, 'unknown');
    assert.match(result.cost.kind === 'unknown' ? result.cost.reason : '', /no price function/);
  });
});

test('stream: deltas concatenate to the final text, with usage, finish reason and latency', async () => {
  const handler: ScriptedHandler = (request, response) =>
    sendStream(response, request, { deltas: ['Hel', 'lo', ', wor', 'ld'], finishReason: 'length', usage: { prompt_tokens: 9, completion_tokens: 4 }, delayMs: 15 });
  await withServer(handler, async (server) => {
    const { provider } = providerFor(server, { apiKey: API_KEY });
    const { deltas, result } = await collect(provider.stream({ ...HELLO, maxTokens: 4 }));
    assert.deepEqual(deltas, ['Hel', 'lo', ', wor', 'ld']);
    assert.equal(result.text, deltas.join(''));
    assert.equal(result.finishReason, 'length');
    assert.deepEqual(result.usage, { promptTokens: 9, completionTokens: 4 });
    assert.equal(result.model, 'test-model');
    assert.ok(result.latency.firstTokenMs > 0 && result.latency.firstTokenMs < result.latency.totalMs, inspect(result.latency));
    const body = bodyOf(server);
    assert.equal(body.stream, true);
    assert.deepEqual(body.stream_options, { include_usage: true });
    assert.equal(server.requests[0]!.headers.accept, 'text/event-stream');
  });
});

test('stream: a server that omits usage gives an unknown cost that says so', async () => {
  await withServer((request, response) => sendStream(response, request, { deltas: ['a', 'b'], usage: null }), async (server) => {
    const { provider } = providerFor(server, { price: () => assert.fail('nothing to price without usage') });
    const { result } = await collect(provider.stream(HELLO));
    assert.equal(result.text, 'ab');
    assert.deepEqual(result.cost, { kind: 'unknown', reason: 'test-upstream reported no token usage for this call' });
  });
});

test('stream: a server that ignores stream:true and answers JSON still streams one delta', async () => {
  await withServer(echo, async (server) => {
    const { provider } = providerFor(server);
    const { deltas, result } = await collect(provider.stream(HELLO));
    assert.deepEqual(deltas, ['echo: Say hello']);
    assert.equal(result.text, 'echo: Say hello');
  });
});

test('retries: Retry-After in seconds and as an HTTP date is honoured, then the answer comes', async () => {
  const now = Date.parse('2025-03-01T12:00:00Z');
  const handler = inSequence(
    (_request, response) => sendError(response, 503, 'overloaded', { 'retry-after': '2' }),
    (_request, response) => sendError(response, 429, 'slow down', { 'retry-after': new Date(now + 3_000).toUTCString() }),
    (_request, response) => sendError(response, 503, 'overloaded', { 'retry-after': '3600' }),
    echo,
  );
  await withServer(handler, async (server) => {
    const { provider, sleeps } = providerFor(server, { now: () => now, timeoutMs: 120_000, backoff: { maxRetryAfterMs: 20_000 } });
    const result = await provider.complete(HELLO);
    assert.equal(result.text, 'echo: Say hello');
    assert.deepEqual(sleeps, [2_000, 3_000, 20_000], 'an hour-long Retry-After is cut to the cap');
    assert.equal(server.requests.length, 4);
  });
});

test('retries: without Retry-After the waits follow exponential backoff with jitter; 408, 409 and network cuts are retried', async () => {
  const handler = inSequence(
    (_request, response) => sendError(response, 500, 'boom'),
    (_request, response) => sendError(response, 408, 'request timeout'),
    (_request, response) => sendError(response, 409, 'lock held'),
    (_request, response) => void response.destroy(),
    echo,
  );
  await withServer(handler, async (server) => {
    const { provider, sleeps } = providerFor(server);
    const result = await provider.complete(HELLO);
    assert.equal(result.text, 'echo: Say hello');
    assert.deepEqual(sleeps, [250, 500, 1_000, 2_000]);
    assert.equal(server.requests.length, 5);
  });
});

test('retries: exhaustion fails with the last status, the upstream message and the attempt count', async () => {
  await withServer((_request, response) => sendError(response, 503, 'engine overloaded'), async (server) => {
    const { provider, sleeps } = providerFor(server, { maxRetries: 2 });
    const error = await providerError(provider.complete(HELLO));
    assert.equal(error.failure, 'http-status');
    assert.equal(error.statusCode, 503);
    assert.equal(error.isRetryable, true);
    assert.equal(error.attempts, 3);
    assert.equal(error.upstreamMessage, 'engine overloaded');
    assert.match(error.message, /^test-upstream: HTTP 503 Service Unavailable: engine overloaded$/);
    assert.equal(server.requests.length, 3);
    assert.equal(sleeps.length, 2);
  });
});

test('retries: a wait that would pass the deadline fails now with the real error', async () => {
  await withServer((_request, response) => sendError(response, 429, 'rate limited', { 'retry-after': '20' }), async (server) => {
    const { provider, sleeps } = providerFor(server, { timeoutMs: 10_000 });
    const error = await providerError(provider.complete(HELLO));
    assert.equal(error.statusCode, 429);
    assert.deepEqual(sleeps, []);
    assert.equal(server.requests.length, 1);
  });
});

test('no retry: 400 and 401 fail at once with the upstream message', async () => {
  for (const status of [400, 401, 403, 404, 422]) {
    await withServer((_request, response) => sendError(response, status, `nope ${status}`), async (server) => {
      const { provider, sleeps } = providerFor(server);
      const error = await providerError(provider.complete(HELLO));
      assert.equal(error.failure, 'http-status');
      assert.equal(error.statusCode, status);
      assert.equal(error.isRetryable, false);
      assert.equal(error.attempts, 1);
      assert.equal(error.upstreamMessage, `nope ${status}`);
      assert.equal(server.requests.length, 1, `HTTP ${status} is not retried`);
      assert.deepEqual(sleeps, []);
    });
  }
});

test('garbage: HTML pages, JSON without choices and broken stream events are bad-response with an excerpt', async () => {
  const page = `<html><head><title>502 Bad Gateway</title></head><body>${'x'.repeat(500)}</body></html>`;
  const handler = inSequence(
    (_request, response) => sendRaw(response, 200, page),
    (_request, response) => sendRaw(response, 200, JSON.stringify({ id: 'x', object: 'chat.completion' }), 'application/json'),
    (_request, response) => sendRaw(response, 200, 'data: {"choices": [\n\n', 'text/event-stream'),
    (_request, response) => sendRaw(response, 502, page),
  );
  await withServer(handler, async (server) => {
    const { provider } = providerFor(server, { maxRetries: 0 });
    const html = await providerError(provider.complete(HELLO));
    assert.equal(html.failure, 'bad-response');
    assert.equal(html.isRetryable, false);
    assert.match(html.message, /the answer is not JSON: <html><head><title>502 Bad Gateway/);
    assert.ok(html.message.length < 300, 'only an excerpt');

    const noChoices = await providerError(provider.complete(HELLO));
    assert.equal(noChoices.failure, 'bad-response');
    assert.match(noChoices.message, /no choices\[0\]\.message: \{"id":"x"/);

    const brokenEvent = await providerError(collect(provider.stream(HELLO)));
    assert.equal(brokenEvent.failure, 'bad-response');
    assert.match(brokenEvent.message, /a stream event is not JSON/);

    const gateway = await providerError(provider.complete(HELLO));
    assert.equal(gateway.failure, 'http-status');
    assert.equal(gateway.statusCode, 502);
    assert.match(gateway.upstreamMessage ?? '', /^<html><head><title>502 Bad Gateway.*…$/);
  });
});

test('stream: an error event mid-stream and a stream cut before its end are reported, not retried after text', async () => {
  const handler = inSequence(
    (_request, response) => sendRaw(response, 200, 'data: {"choices":[{"index":0,"delta":{"content":"par"}}]}\n\ndata: {"error":{"message":"engine died"}}\n\n', 'text/event-stream'),
    (request, response) => sendStream(response, request, { deltas: ['a', 'b'], finishReason: null, omitDone: true }),
  );
  await withServer(handler, async (server) => {
    const { provider } = providerFor(server);
    const deltas: string[] = [];
    const midStream = await providerError(
      (async () => {
        for await (const event of provider.stream(HELLO)) if (event.type === 'delta') deltas.push(event.text);
      })(),
    );
    assert.equal(midStream.failure, 'bad-response');
    assert.equal(midStream.upstreamMessage, 'engine died');
    assert.deepEqual(deltas, ['par']);

    const cut = await providerError(collect(provider.stream(HELLO)));
    assert.equal(cut.failure, 'network');
    assert.match(cut.message, /ended before its end marker/);
    assert.equal(server.requests.length, 2, 'text had been emitted: no retry');
  });
});

test('timeouts: a hang after headers hits the first-byte timeout on every attempt', async () => {
  await withServer((_request, response) => hangAfterHeaders(response), async (server) => {
    const { provider, sleeps } = providerFor(server, { firstByteTimeoutMs: 80, maxRetries: 1 });
    const started = Date.now();
    const error = await providerError(provider.complete(HELLO));
    assert.equal(error.failure, 'timeout');
    assert.match(error.message, /first-byte timeout/);
    assert.equal(error.isRetryable, true);
    assert.equal(error.attempts, 2);
    assert.equal(sleeps.length, 1);
    assert.ok(Date.now() - started < 2_000);
  });
});

test('timeouts: the whole-call timeout ends a hung stream; the idle timeout ends a stalled one without retrying', async () => {
  const handler = inSequence(
    (_request, response) => hangAfterHeaders(response, 'text/event-stream'),
    (request, response) => sendStream(response, request, { deltas: ['one', 'two', 'three'], hangAfter: 1 }),
  );
  await withServer(handler, async (server) => {
    const whole = providerFor(server, { timeoutMs: 150 }).provider;
    const hung = await providerError(collect(whole.stream(HELLO)));
    assert.equal(hung.failure, 'timeout');
    assert.match(hung.message, /no complete answer within 150 ms/);
    assert.equal(hung.attempts, 1);

    const idle = providerFor(server, { idleTimeoutMs: 100 }).provider;
    const deltas: string[] = [];
    const stalled = await providerError(
      (async () => {
        for await (const event of idle.stream(HELLO)) if (event.type === 'delta') deltas.push(event.text);
      })(),
    );
    assert.equal(stalled.failure, 'timeout');
    assert.match(stalled.message, /idle timeout/);
    assert.deepEqual(deltas, ['one']);
    assert.equal(server.requests.length, 2, 'the stalled stream had emitted text: not retried');
  });
});

test('abort: the caller’s signal cancels the request, a backoff wait and a queued call', async () => {
  await withServer(
    inSequence(
      (_request, response) => hangAfterHeaders(response),
      (_request, response) => sendError(response, 503, 'busy', { 'retry-after': '30' }),
    ),
    async (server) => {
      // Default (real) sleep: an abort must cut the 30 s wait short.
      const { provider } = providerFor(server, { sleep: undefined, maxConcurrency: 1 });
      const inFlight = new AbortController();
      const hung = provider.complete(HELLO, { signal: inFlight.signal });
      while (server.requests.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
      const queued = new AbortController();
      const waiting = provider.complete(HELLO, { signal: queued.signal });
      queued.abort();
      const queuedError = await providerError(waiting);
      assert.equal(queuedError.failure, 'aborted');
      assert.equal(queuedError.attempts, 0);
      inFlight.abort(new Error('user pressed ctrl-c'));
      const hungError = await providerError(hung);
      assert.equal(hungError.failure, 'aborted');
      assert.equal(hungError.isRetryable, false);
      while (server.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));

      const sleeping = new AbortController();
      const started = Date.now();
      const backoff = provider.complete(HELLO, { signal: sleeping.signal });
      while (server.requests.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      setTimeout(() => sleeping.abort(), 30);
      const backoffError = await providerError(backoff);
      assert.equal(backoffError.failure, 'aborted');
      assert.ok(Date.now() - started < 5_000, 'the 30 s Retry-After wait was cut short');
      assert.equal(server.requests.length, 2);

      const already = await providerError(provider.complete(HELLO, { signal: AbortSignal.abort() }));
      assert.equal(already.failure, 'aborted');
      assert.equal(server.requests.length, 2);
    },
  );
});

test('concurrency: with maxConcurrency 2, six calls never put more than 2 in flight', async () => {
  const handler: ScriptedHandler = async (request, response) => {
    await new Promise((resolve) => setTimeout(resolve, 40));
    echo(request, response, { index: 0, disconnected: new AbortController().signal });
  };
  await withServer(handler, async (server) => {
    const { provider } = providerFor(server, { maxConcurrency: 2 });
    const results = await Promise.all(Array.from({ length: 6 }, (_, index) => provider.complete({ messages: [{ role: 'user', content: `n${index}` }] })));
    assert.deepEqual(
      results.map((result) => result.text),
      Array.from({ length: 6 }, (_, index) => `echo: n${index}`),
    );
    assert.equal(server.requests.length, 6);
    assert.equal(server.maxInFlight, 2);
  });
});

test('redaction: the API key never appears in errors, even when the upstream echoes it', async () => {
  const handler = inSequence(
    (request, response) => sendError(response, 401, `Incorrect API key provided: ${API_KEY}; header was ${String(request.headers.authorization)}`),
    (_request, response) => sendRaw(response, 200, `<p>debug: key=${API_KEY} x-secret=hunter2-secret-value</p>`),
  );
  await withServer(handler, async (server) => {
    const { provider } = providerFor(server, { apiKey: API_KEY, headers: { 'x-api-key': 'hunter2-secret-value' } });
    const unauthorized = await providerError(provider.complete(HELLO));
    const garbage = await providerError(provider.complete(HELLO));
    for (const error of [unauthorized, garbage]) {
      const everything = `${inspect(error, { depth: 10 })} ${error.describe()} ${JSON.stringify(error)}`;
      assert.ok(!everything.includes(API_KEY), everything);
      assert.ok(!everything.includes('hunter2-secret-value'), everything);
      assert.ok(!everything.includes('THIS-IS-SECRET'), everything);
      assert.match(everything, /\[redacted\]/);
    }
    assert.equal(unauthorized.statusCode, 401);
    assert.match(unauthorized.hint ?? '', /API key/);
  });

  // A network failure (nothing listening) carries the key nowhere either.
  const closedPort = await freePort();
  const { provider, sleeps } = providerFor({ baseUrl: `http://127.0.0.1:${closedPort}/v1` }, { apiKey: API_KEY, maxRetries: 2 });
  const network = await providerError(provider.complete(HELLO));
  assert.equal(network.failure, 'network');
  assert.equal(network.isRetryable, true);
  assert.equal(network.attempts, 3);
  assert.equal(sleeps.length, 2);
  assert.match(network.message, /ECONNREFUSED/);
  assert.ok(!inspect(network, { depth: 10 }).includes(API_KEY));
});

test('constraints: json-schema passes through as response_format; labels go as an object-root schema and come back bare', async () => {
  const schema = { type: 'object', properties: { answer: { type: 'integer' } }, required: ['answer'], additionalProperties: false };
  const handler = inSequence(
    (_request, response) => sendCompletion(response, { text: '{"answer": 4}' }),
    (_request, response) => sendCompletion(response, { text: '{"label":"negative"}' }),
    (request, response) => sendStream(response, request, { deltas: ['{"la', 'bel":"pos', 'itive"}'] }),
    (_request, response) => sendCompletion(response, { text: '{"label":"maybe"}' }),
    (_request, response) => sendCompletion(response, { text: 'Sure! Here is some prose.' }),
  );
  await withServer(handler, async (server) => {
    const { provider } = providerFor(server);
    const json = await provider.complete({ ...HELLO, constraint: { kind: 'json-schema', schema, name: 'math answer' } });
    assert.equal(json.text, '{"answer": 4}');
    assert.deepEqual(bodyOf(server, 0).response_format, { type: 'json_schema', json_schema: { name: 'math_answer', schema, strict: true } });

    const labels: OutputConstraint = { kind: 'labels', labels: ['positive', 'negative'] };
    assert.equal((await provider.complete({ ...HELLO, constraint: labels })).text, 'negative');
    assert.deepEqual(bodyOf(server, 1).response_format, {
      type: 'json_schema',
      json_schema: {
        name: 'label',
        schema: { type: 'object', properties: { label: { type: 'string', enum: ['positive', 'negative'] } }, required: ['label'], additionalProperties: false },
        strict: true,
      },
    });

    const streamed = await collect(provider.stream({ ...HELLO, constraint: labels }));
    assert.deepEqual(streamed.deltas, ['positive'], 'a streamed label arrives whole, unwrapped');
    assert.equal(streamed.result.text, 'positive');

    const offLabel = await providerError(provider.complete({ ...HELLO, constraint: labels }));
    assert.equal(offLabel.failure, 'constraint-violated');
    assert.match(offLabel.message, /not one of the 2 labels/);

    const notJson = await providerError(provider.complete({ ...HELLO, constraint: { kind: 'json-schema', schema } }));
    assert.equal(notJson.failure, 'constraint-violated');
    assert.match(notJson.message, /not JSON although response_format json_schema was sent/);
  });
});

test('constraints: labelConstraint "validate" sends no response_format and checks the bare answer', async () => {
  const handler = inSequence(
    (_request, response) => sendCompletion(response, { text: '  positive\n' }),
    (_request, response) => sendCompletion(response, { text: 'positive, I think' }),
  );
  await withServer(handler, async (server) => {
    const { provider } = providerFor(server, { labelConstraint: 'validate' });
    const labels: OutputConstraint = { kind: 'labels', labels: ['positive', 'negative'] };
    assert.equal((await provider.complete({ ...HELLO, constraint: labels })).text, 'positive');
    assert.equal(bodyOf(server, 0).response_format, undefined);
    assert.equal((await providerError(provider.complete({ ...HELLO, constraint: labels }))).failure, 'constraint-violated');
  });
});

test('constraints: a server that rejects response_format fails as unsupported-schema, not silently unconstrained', async () => {
  await withServer(
    (_request, response) => sendError(response, 400, "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."),
    async (server) => {
      const { provider } = providerFor(server);
      const error = await providerError(provider.complete({ ...HELLO, constraint: { kind: 'json-schema', schema: { type: 'object' } } }));
      assert.equal(error.failure, 'unsupported-schema');
      assert.equal(error.statusCode, 400);
      assert.equal(error.isRetryable, false);
      assert.match(error.hint ?? '', /response_format/);
      assert.equal(server.requests.length, 1);
      assert.ok(bodyOf(server).response_format !== undefined, 'the constraint was sent, not dropped');
    },
  );
});

test('invalid requests fail before any HTTP call; bad options fail at construction', async () => {
  await withServer(echo, async (server) => {
    const { provider } = providerFor(server);
    const error = await providerError(provider.complete({ ...HELLO, temperature: 5 }));
    assert.equal(error.failure, 'invalid-request');
    assert.equal(server.requests.length, 0);
  });
  assert.throws(() => createOpenAiCompatibleProvider({ id: 'x', baseUrl: 'ftp://example.com', model: 'm' }), /baseUrl must be an http\(s\) URL/);
  assert.throws(() => createOpenAiCompatibleProvider({ id: 'x', baseUrl: 'http://127.0.0.1/v1', model: 'm', maxConcurrency: 0 }), /maxConcurrency/);
});

test('close: in-flight and queued calls fail as closed, later calls too', async () => {
  await withServer((_request, response) => hangAfterHeaders(response), async (server) => {
    const { provider } = providerFor(server, { maxConcurrency: 1 });
    const running = provider.complete(HELLO);
    const queued = provider.complete(HELLO);
    while (server.requests.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    await provider.close();
    assert.equal((await providerError(running)).failure, 'closed');
    assert.equal((await providerError(queued)).failure, 'closed');
    assert.equal((await providerError(provider.complete(HELLO))).failure, 'closed');
    assert.equal(server.requests.length, 1);
  });
});

test('a consumer that stops reading a stream frees the connection and leaves nothing unhandled', async () => {
  await withServer((request, response) => sendStream(response, request, { deltas: Array.from({ length: 50 }, (_, index) => `t${index} `), delayMs: 10 }), async (server) => {
    const { provider } = providerFor(server, { maxConcurrency: 1 });
    for await (const event of provider.stream(HELLO)) if (event.type === 'delta') break;
    // The slot was released: a second call gets through.
    const { deltas } = await collect(provider.stream(HELLO));
    assert.equal(deltas.length, 50);
    while (server.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
  });
});

test('a fetch passed in carries every call (JSON, stream, a retried 503) instead of the default node:http transport', async () => {
  let failOnce = true;
  const handler: ScriptedHandler = async (request, response, context) => {
    if (failOnce) {
      failOnce = false;
      sendError(response, 503, 'busy', { 'retry-after-ms': '7' });
      return;
    }
    if ((request.body as { stream?: boolean }).stream === true) await sendStream(response, request, { deltas: ['a', 'b'], usage: { prompt_tokens: 2, completion_tokens: 2 } });
    else await echo(request, response, context);
  };
  await withServer(handler, async (server) => {
    const urls: string[] = [];
    const counting: typeof globalThis.fetch = (input, init) => {
      urls.push(String(input));
      return globalThis.fetch(input, init);
    };
    const { provider, sleeps } = providerFor(server, { apiKey: API_KEY, fetch: counting, headers: { 'X-Team': 'search' } });
    const answer = await provider.complete(HELLO);
    assert.equal(answer.text, 'echo: Say hello');
    assert.deepEqual(sleeps, [7], 'the 503 was retried after its retry-after-ms');
    const { deltas } = await collect(provider.stream(HELLO));
    assert.deepEqual(deltas, ['a', 'b']);
    assert.deepEqual(urls, Array.from({ length: 3 }, () => `${server.baseUrl}/chat/completions`));
    assert.equal(server.requests.at(-1)!.headers['x-team'], 'search');
    assert.equal(server.requests.at(-1)!.headers.authorization, `Bearer ${API_KEY}`);
    await provider.close();
  });
});

test('a consumer that stops reading early frees the connection with either transport (node:http and a passed fetch)', async () => {
  // 300 deltas 10 ms apart: about 3 s if nobody hung up.
  await withServer((request, response) => sendStream(response, request, { deltas: Array.from({ length: 300 }, (_, index) => `t${index} `), delayMs: 10 }), async (server) => {
    for (const overrides of [{}, { fetch: globalThis.fetch }]) {
      const { provider } = providerFor(server, overrides);
      const started = Date.now();
      for await (const event of provider.stream(HELLO)) if (event.type === 'delta') break;
      while (server.inFlight > 0) {
        assert.ok(Date.now() - started < 1500, `the upstream is still sending ${Date.now() - started} ms later (${Object.keys(overrides).join() || 'node:http'})`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await provider.close();
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
  });
});

test('serveProvider: any ChatProvider behind the protocol, JSON and SSE, errors as OpenAI error bodies', async () => {
  const seen: ChatRequest[] = [];
  const result = (request: ChatRequest, text: string): ChatResult => ({
    text,
    finishReason: 'stop',
    usage: { promptTokens: 5, completionTokens: 2 },
    latency: { firstTokenMs: 1, totalMs: 2 },
    cost: { kind: 'unknown', reason: 'local' },
    provider: 'inner',
    model: request.model ?? 'inner-model',
  });
  const inner: ChatProvider = {
    id: 'inner',
    async complete(request) {
      seen.push(request);
      if (request.model === 'missing') throw new ProviderError('no adapter named missing', { failure: 'unknown-model', provider: 'inner' });
      return result(request, `inner says ${request.messages.at(-1)!.content}`);
    },
    async *stream(request) {
      seen.push(request);
      yield { type: 'delta', text: 'in' };
      yield { type: 'delta', text: 'ner' };
      yield { type: 'done', result: result(request, 'inner') };
    },
    async close() {},
  };
  const server = await serveProvider(inner);
  try {
    const { provider } = providerFor(server, { maxTokensField: 'max_completion_tokens' });
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    const answer = await provider.complete({ ...HELLO, model: 'adapter-a', maxTokens: 7, seed: 3, stop: ['END'], constraint: { kind: 'json-schema', schema, name: 's' } }).catch((error: unknown) => error);
    // The inner provider answers prose to a JSON-schema request: the client refuses it, as it should.
    assert.ok(ProviderError.isInstance(answer) && answer.failure === 'constraint-violated');
    assert.deepEqual(seen[0], {
      model: 'adapter-a',
      messages: [{ role: 'user', content: 'Say hello' }],
      temperature: 0,
      seed: 3,
      maxTokens: 7,
      stop: ['END'],
      constraint: { kind: 'json-schema', schema, name: 's' },
    });

    const plain = await provider.complete(HELLO);
    assert.equal(plain.text, 'inner says Say hello');
    assert.deepEqual(plain.usage, { promptTokens: 5, completionTokens: 2 });
    assert.equal(plain.model, 'default-model');

    const streamed = await collect(provider.stream(HELLO));
    assert.deepEqual(streamed.deltas, ['in', 'ner']);
    assert.deepEqual(streamed.result.usage, { promptTokens: 5, completionTokens: 2 });

    const missing = await providerError(provider.complete({ ...HELLO, model: 'missing' }));
    assert.equal(missing.statusCode, 404);
    assert.match(missing.upstreamMessage ?? '', /no adapter named missing/);

    const invalid = await fetch(`${server.baseUrl}/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [] }) });
    assert.equal(invalid.status, 400);
    assert.match(JSON.stringify(await invalid.json()), /invalid_request_error/);
  } finally {
    await server.close();
  }
});

/** A port with nothing listening on it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
