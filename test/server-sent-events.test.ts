import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServerSentEventParser, isStreamDone, type ServerSentEvent } from '../src/core/server-sent-events.ts';

function parseAll(chunks: string[]): ServerSentEvent[] {
  const parser = createServerSentEventParser();
  return [...chunks.flatMap((chunk) => parser.push(chunk)), ...parser.end()];
}

/** Every way of cutting `text` in two, plus one character at a time. */
function splits(text: string): string[][] {
  const cuts = Array.from({ length: text.length + 1 }, (_, at) => [text.slice(0, at), text.slice(at)]);
  return [...cuts, [...text]];
}

const message = (data: string, extra: Partial<ServerSentEvent> = {}): ServerSentEvent => ({ event: 'message', data, ...extra });

const cases: Array<{ name: string; stream: string; expected: ServerSentEvent[] }> = [
  { name: 'one event', stream: 'data: {"a":1}\n\n', expected: [message('{"a":1}')] },
  { name: 'two events', stream: 'data: one\n\ndata: two\n\n', expected: [message('one'), message('two')] },
  { name: 'CRLF line ends', stream: 'data: one\r\n\r\ndata: two\r\n\r\n', expected: [message('one'), message('two')] },
  { name: 'bare CR line ends', stream: 'data: one\r\rdata: two\r\r', expected: [message('one'), message('two')] },
  { name: 'multi-line data joins with \\n', stream: 'data: first\ndata: second\ndata:third\n\n', expected: [message('first\nsecond\nthird')] },
  { name: 'only one leading space is stripped', stream: 'data:  indented\n\n', expected: [message(' indented')] },
  { name: 'comments and keep-alives are skipped', stream: ': keep-alive\n\n:ping\ndata: x\n\n', expected: [message('x')] },
  { name: 'event, id and retry fields', stream: 'event: error\nid: 7\nretry: 1500\ndata: boom\n\n', expected: [{ event: 'error', data: 'boom', id: '7', retryMs: 1500 }] },
  { name: 'id persists to later events', stream: 'id: 3\ndata: a\n\ndata: b\n\n', expected: [message('a', { id: '3' }), message('b', { id: '3' })] },
  { name: 'unknown fields and a bad retry are ignored', stream: 'foo: bar\nretry: soon\ndata: x\n\n', expected: [message('x')] },
  { name: 'an event without data is not dispatched', stream: 'event: ping\n\ndata: x\n\n', expected: [message('x')] },
  { name: 'an empty data line dispatches an empty string', stream: 'data:\n\n', expected: [message('')] },
  { name: 'a field with no colon', stream: 'data\n\n', expected: [message('')] },
  { name: 'byte order mark at the start', stream: '\uFEFFdata: x\n\n', expected: [message('x')] },
  { name: 'the [DONE] sentinel is an ordinary event', stream: 'data: {"x":1}\n\ndata: [DONE]\n\n', expected: [message('{"x":1}'), message('[DONE]')] },
  { name: 'a last event without its blank line is still dispatched', stream: 'data: a\n\ndata: [DONE]', expected: [message('a'), message('[DONE]')] },
  { name: 'a trailing CR at the end of the stream', stream: 'data: a\r', expected: [message('a')] },
  { name: 'unicode passes through', stream: 'data: {"t":"héllo ✓ 🎉"}\n\n', expected: [message('{"t":"héllo ✓ 🎉"}')] },
];

for (const { name, stream, expected } of cases) {
  test(`SSE parser: ${name}, however the text is chunked`, () => {
    for (const chunks of splits(stream)) assert.deepEqual(parseAll(chunks), expected, `chunks ${JSON.stringify(chunks)}`);
  });
}

test('SSE parser: push returns events as soon as their blank line arrives', () => {
  const parser = createServerSentEventParser();
  assert.deepEqual(parser.push('data: a\n'), []);
  assert.deepEqual(parser.push('\ndata: b'), [message('a')]);
  assert.deepEqual(parser.push('\r'), []);
  assert.deepEqual(parser.push('\n\r\n'), [message('b')]);
  assert.deepEqual(parser.end(), []);
});

test('isStreamDone recognises data: [DONE] only', () => {
  assert.equal(isStreamDone(message('[DONE]')), true);
  assert.equal(isStreamDone(message(' [DONE] ')), true);
  assert.equal(isStreamDone(message('{"done":true}')), false);
  assert.equal(isStreamDone(message('[DONE]x')), false);
});
