import { useEffect, useState } from 'react';

/** A number that grows every `intervalMs` while the page is open: pass it to `useFetch` as `version` to re-ask. */
export function usePolling(intervalMs: number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((value) => value + 1), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return tick;
}
