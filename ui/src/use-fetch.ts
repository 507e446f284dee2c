import { useEffect, useState } from 'react';
import { api } from './api.ts';

export type Loaded<Value> = { state: 'loading' } | { state: 'error'; message: string } | { state: 'ready'; value: Value };

/** GET `path` whenever it (or `version`) changes; the last answer wins. */
export function useFetch<Value>(path: string | null, version = 0): Loaded<Value> {
  const [loaded, setLoaded] = useState<Loaded<Value>>({ state: 'loading' });
  useEffect(() => {
    if (path === null) return undefined;
    let current = true;
    api<Value>(path).then(
      (value) => current && setLoaded({ state: 'ready', value }),
      (error: unknown) => current && setLoaded({ state: 'error', message: error instanceof Error ? error.message : String(error) }),
    );
    return () => {
      current = false;
    };
  }, [path, version]);
  return loaded;
}
