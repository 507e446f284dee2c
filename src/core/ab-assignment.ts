import { createHash } from 'node:crypto';

/**
 * Sticky A/B assignment: a unit's position in [0, 1) is a hash of the experiment and the unit's key (a user or
 * session id), so the same key lands in the same arm on every request and after every restart. The candidate gets
 * positions below its weight: raising the weight (a ramp) only moves units from the incumbent to the candidate,
 * never back.
 */
export function assignmentPosition(experiment: string, key: string): number {
  const digest = createHash('sha256').update(`${experiment}\0${key}`).digest();
  // 52 bits of the digest: uniform over [0, 1) at double precision.
  return (digest.readUInt32BE(0) * 2 ** 20 + (digest.readUInt32BE(4) >>> 12)) / 2 ** 52;
}

export interface RampStep {
  /** ISO time from which `weight` holds. */
  from: string;
  weight: number;
}

/** The candidate's weight at `now`: the last ramp step that has started, else the base weight. */
export function weightAt(baseWeight: number, ramp: readonly RampStep[], now: number): number {
  let weight = baseWeight;
  let latest = Number.NEGATIVE_INFINITY;
  for (const step of ramp) {
    const from = Date.parse(step.from);
    if (from <= now && from >= latest) {
      latest = from;
      weight = step.weight;
    }
  }
  return weight;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreaker {
  /** May a call go to this arm now? In half-open state one trial call is let through at a time. */
  allow(): boolean;
  success(): void;
  failure(): void;
  state(): BreakerState;
}

/** Opens after `failures` consecutive failures; after `cooldownMs` one trial call decides: success closes, failure reopens. */
export function createCircuitBreaker(options: { failures: number; cooldownMs: number; now?: () => number }): CircuitBreaker {
  const now = options.now ?? (() => Date.now());
  let consecutive = 0;
  let openedAt: number | undefined;
  let trialInFlight = false;
  const state = (): BreakerState => (openedAt === undefined ? 'closed' : now() - openedAt >= options.cooldownMs ? 'half-open' : 'open');
  return {
    allow() {
      const current = state();
      if (current === 'closed') return true;
      if (current === 'open' || trialInFlight) return false;
      trialInFlight = true;
      return true;
    },
    success() {
      consecutive = 0;
      openedAt = undefined;
      trialInFlight = false;
    },
    failure() {
      consecutive += 1;
      if (state() === 'half-open' || consecutive >= options.failures) openedAt = now();
      trialInFlight = false;
    },
    state,
  };
}
