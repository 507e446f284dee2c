import type { ApiErrorView } from '../../src/contracts/dashboard.ts';

/** The dashboard API, relative to the page (so it works under /ui/ and at /). The token travels as a cookie. */
export async function api<Result>(path: string, init: { method?: 'GET' | 'POST'; body?: unknown } = {}): Promise<Result> {
  const response = await fetch(`api/${path}`, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${response.status} ${response.statusText}: ${text.slice(0, 200)}`);
  }
  if (!response.ok) {
    const error = (parsed as Partial<ApiErrorView>).error;
    throw new Error(error?.message ?? `${response.status} ${response.statusText}`);
  }
  return parsed as Result;
}

/** `?a=1&b=x` from the values that are set. */
export function queryString(values: Record<string, string | number | undefined>): string {
  const parameters = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== undefined && value !== '') parameters.set(key, String(value));
  const text = parameters.toString();
  return text === '' ? '' : `?${text}`;
}
