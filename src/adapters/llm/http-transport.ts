/**
 * How the OpenAI-compatible provider sends one POST and reads the answer. The default is Node's own `http`/`https`
 * with a keep-alive agent per provider: measured here against a local upstream, one call through the global
 * `fetch` (undici with web streams and abort plumbing) cost about 250 µs of CPU, through `http.request` about 45 µs,
 * which is most of what a gateway adds to a fast upstream. A `fetch` can still be passed in (tests, proxies).
 */
import http from 'node:http';
import https from 'node:https';

/**
 * The part of a response the provider reads. `body` yields the raw bytes; a reader that stops early calls its
 * iterator's `return()`, which drops the rest (and its connection).
 */
export interface UpstreamResponse {
  status: number;
  statusText: string;
  ok: boolean;
  header(name: string): string | null;
  body: AsyncIterable<Uint8Array> | null;
}

export interface UpstreamRequest {
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

export interface HttpTransport {
  post(url: string, request: UpstreamRequest): Promise<UpstreamResponse>;
  /** Closes idle keep-alive connections. */
  close(): void;
}

/** A transport over a `fetch` implementation. */
export function fetchTransport(fetchImpl: typeof globalThis.fetch): HttpTransport {
  return {
    async post(url, request) {
      const response = await fetchImpl(url, { method: 'POST', headers: request.headers, body: request.body, signal: request.signal });
      const stream = response.body;
      return {
        status: response.status,
        statusText: response.statusText,
        ok: response.ok,
        header: (name) => response.headers.get(name),
        body: stream === null ? null : readerIterable(stream),
      };
    },
    close() {},
  };
}

/** The stream's chunks; stopping early cancels the stream. */
async function* readerIterable(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = stream.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : Object.assign(new Error('the request was aborted'), { name: 'AbortError', cause: signal.reason });
}

/** A transport on `node:http`/`node:https` with keep-alive agents holding up to `maxSockets` connections per origin. */
export function createNodeHttpTransport(options: { maxSockets: number }): HttpTransport {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: options.maxSockets, scheduling: 'lifo' }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: options.maxSockets, scheduling: 'lifo' }),
  };
  return {
    post(url, request) {
      return new Promise<UpstreamResponse>((resolve, reject) => {
        const { signal } = request;
        if (signal.aborted) {
          reject(abortReason(signal));
          return;
        }
        const target = new URL(url);
        const send = target.protocol === 'https:' ? https.request : http.request;
        const agent = target.protocol === 'https:' ? agents['https:'] : agents['http:'];
        const outgoing = send(target, { method: 'POST', agent, headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) } });
        let response: http.IncomingMessage | undefined;
        const onAbort = (): void => {
          const reason = abortReason(signal);
          if (response === undefined) outgoing.destroy(reason);
          else response.destroy(reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const detach = (): void => signal.removeEventListener('abort', onAbort);
        // `on`, not `once`: a late second error must not go unhandled (it would end the process).
        outgoing.on('error', (error) => {
          detach();
          reject(error);
        });
        outgoing.once('response', (incoming) => {
          response = incoming;
          incoming.once('close', detach);
          // A reader sees errors through its iterator (whose early return destroys the response); this keeps one
          // with no reader from ending the process.
          incoming.on('error', () => undefined);
          const status = incoming.statusCode ?? 0;
          resolve({
            status,
            statusText: incoming.statusMessage ?? '',
            ok: status >= 200 && status < 300,
            header: (name) => {
              const value = incoming.headers[name.toLowerCase()];
              return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
            },
            body: incoming,
          });
        });
        outgoing.end(request.body);
      });
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
