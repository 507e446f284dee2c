import type { Loaded } from '../use-fetch.ts';
import type { ReactNode } from 'react';

/** Loading and error states, then the content. */
export function Status<Value>(props: { loaded: Loaded<Value>; children: (value: Value) => ReactNode }) {
  if (props.loaded.state === 'loading') return <p className="muted">Loading…</p>;
  if (props.loaded.state === 'error') return <p className="error" role="alert">{props.loaded.message}</p>;
  return <>{props.children(props.loaded.value)}</>;
}

export function Badge(props: { kind: string; children: ReactNode }) {
  return <span className={`badge badge-${props.kind}`}>{props.children}</span>;
}
