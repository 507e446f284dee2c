import type { Store } from '../adapters/store/sqlite-store.ts';
import type { GatewayLogRecord } from '../contracts/gateway.ts';

export interface GatewayLogQueue {
  /** Queue a record; never blocks and never throws (a failed write is counted and reported by `stats`). */
  push(record: GatewayLogRecord): void;
  /** Write everything queued now. */
  flush(): void;
  /** Flush what is left and stop the timer; pushes after close are written at once. */
  close(): void;
  stats(): { queued: number; written: number; failedBatches: number; lastError: string | null };
}

/**
 * Gateway calls go to the store in batches, one transaction each: after `batchSize` records or `flushMs`
 * milliseconds, whichever comes first. A response never waits for the database; a clean shutdown loses no row.
 */
export function createGatewayLogQueue(store: Store, options: { batchSize: number; flushMs: number }): GatewayLogQueue {
  let queue: GatewayLogRecord[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const counters = { written: 0, failedBatches: 0, lastError: null as string | null };

  const flush = (): void => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    try {
      store.logGatewayRequests(batch);
      counters.written += batch.length;
    } catch (error) {
      // One bad record must not lose its neighbours: retry them one by one, keep the failures' reasons.
      counters.failedBatches += 1;
      for (const record of batch) {
        try {
          store.logGatewayRequests([record]);
          counters.written += 1;
        } catch (recordError) {
          counters.lastError = recordError instanceof Error ? recordError.message : String(recordError);
        }
      }
      if (counters.lastError === null) counters.lastError = error instanceof Error ? error.message : String(error);
    }
  };

  return {
    push(record) {
      queue.push(record);
      if (closed || queue.length >= options.batchSize) {
        // Off the response path: the caller has already answered (or is about to).
        setImmediate(flush);
        return;
      }
      if (timer === undefined) {
        timer = setTimeout(flush, options.flushMs);
        timer.unref();
      }
    },
    flush,
    close() {
      closed = true;
      flush();
    },
    stats() {
      return { queued: queue.length, ...counters };
    },
  };
}
