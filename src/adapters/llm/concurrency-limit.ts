/**
 * A counting semaphore: at most `maxConcurrency` holders at once, the rest wait in arrival order.
 * A waiter leaves the queue when its signal aborts; closing rejects every waiter and later acquire.
 */

/** Gives the slot back; calling it again does nothing. */
export type ReleaseSlot = () => void;

export interface ConcurrencyLimit {
  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<ReleaseSlot>;
  /** Slots held now. */
  readonly active: number;
  /** Callers queued for a slot. */
  readonly waiting: number;
  /** Rejects every waiter, and every later `acquire`, with `reason`; held slots stay held until released. */
  close(reason: unknown): void;
}

interface Waiter {
  grant(): void;
  reject(reason: unknown): void;
}

export function createConcurrencyLimit(maxConcurrency: number): ConcurrencyLimit {
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw new RangeError(`maxConcurrency must be a positive integer, got ${maxConcurrency}`);
  let active = 0;
  let closed: { reason: unknown } | undefined;
  const waiters: Waiter[] = [];

  function releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiters.shift();
      // The slot passes straight to the next waiter, so `active` does not change.
      if (next === undefined) active -= 1;
      else next.grant();
    };
  }

  return {
    acquire(signal) {
      if (closed !== undefined) return Promise.reject(closed.reason);
      if (signal?.aborted === true) return Promise.reject(signal.reason);
      if (active < maxConcurrency) {
        active += 1;
        return Promise.resolve(releaser());
      }
      return new Promise<ReleaseSlot>((resolve, reject) => {
        const onAbort = (): void => {
          const index = waiters.indexOf(waiter);
          if (index !== -1) waiters.splice(index, 1);
          reject(signal?.reason);
        };
        const waiter: Waiter = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve(releaser());
          },
          reject: (reason) => {
            signal?.removeEventListener('abort', onAbort);
            reject(reason);
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.push(waiter);
      });
    },
    get active() {
      return active;
    },
    get waiting() {
      return waiters.length;
    },
    close(reason) {
      closed ??= { reason };
      for (const waiter of waiters.splice(0)) waiter.reject(reason);
    },
  };
}
