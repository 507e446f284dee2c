/**
 * An incremental parser for server-sent events (the WHATWG `text/event-stream` format), as OpenAI-style
 * servers stream chat completions. Feed it decoded text in chunks of any size; it returns the events each
 * chunk completes. Pure: no I/O, no timers.
 */

/** One dispatched event. */
export interface ServerSentEvent {
  /** The `event:` field; `message` when the stream names none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen so far in the stream, if any. */
  id?: string;
  /** A `retry:` field on this event (reconnection time in milliseconds). */
  retryMs?: number;
}

export interface ServerSentEventParser {
  /** Adds text; returns the events that became complete. */
  push(text: string): ServerSentEvent[];
  /**
   * Ends the stream; returns a last event still pending. The standard drops an event without its closing
   * blank line; we dispatch it, because a server that closes right after its final `data:` line meant it.
   */
  end(): ServerSentEvent[];
}

/** The data OpenAI-style servers send as their last event. */
export const STREAM_DONE_DATA = '[DONE]';

/** Whether this is the `data: [DONE]` sentinel that ends an OpenAI-style stream. */
export function isStreamDone(event: ServerSentEvent): boolean {
  return event.data.trim() === STREAM_DONE_DATA;
}

const LINE_END = /\r\n|\r|\n/g;

export function createServerSentEventParser(): ServerSentEventParser {
  let buffer = '';
  let started = false;
  let data = '';
  let eventType = '';
  let lastId: string | undefined;
  let retryMs: number | undefined;

  function dispatch(into: ServerSentEvent[]): void {
    if (data !== '') {
      const event: ServerSentEvent = { event: eventType === '' ? 'message' : eventType, data: data.endsWith('\n') ? data.slice(0, -1) : data };
      if (lastId !== undefined) event.id = lastId;
      if (retryMs !== undefined) event.retryMs = retryMs;
      into.push(event);
    }
    data = '';
    eventType = '';
    retryMs = undefined;
  }

  function processLine(line: string, into: ServerSentEvent[]): void {
    if (line === '') return dispatch(into);
    if (line.startsWith(':')) return; // a comment, often a keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data += `${value}\n`;
    else if (field === 'event') eventType = value;
    else if (field === 'id') {
      if (!value.includes('\0')) lastId = value;
    } else if (field === 'retry') {
      if (/^\d+$/.test(value)) retryMs = Number(value);
    }
    // Unknown fields are ignored, as the standard says.
  }

  function consume(final: boolean): ServerSentEvent[] {
    const events: ServerSentEvent[] = [];
    if (!started && buffer.length > 0) {
      started = true;
      if (buffer.startsWith('\uFEFF')) buffer = buffer.slice(1);
    }
    let start = 0;
    LINE_END.lastIndex = 0;
    for (let match = LINE_END.exec(buffer); match !== null; match = LINE_END.exec(buffer)) {
      // A chunk may end between the \r and the \n of one \r\n: wait for the next chunk before deciding.
      if (!final && match[0] === '\r' && match.index === buffer.length - 1) break;
      processLine(buffer.slice(start, match.index), events);
      start = match.index + match[0].length;
    }
    buffer = buffer.slice(start);
    if (final) {
      if (buffer !== '') processLine(buffer, events);
      buffer = '';
      dispatch(events);
    }
    return events;
  }

  return {
    push: (text) => {
      buffer += text;
      return consume(false);
    },
    end: () => consume(true),
  };
}
