/**
 * What an upstream HTTP API said when it refused a call, in a form safe to show: its own message out of the usual
 * error bodies, cut to an excerpt, with the caller's secrets replaced. Shared by the OpenAI-compatible provider and
 * the hosted fine-tuning clients.
 */
import { z } from 'zod';

// OpenAI `{"error": {"message"}}` or `{"error": "..."}`; Together, vLLM and others `{"message"}` or `{"detail"}`.
const UpstreamErrorSchema = z.object({
  error: z.union([z.object({ message: z.string() }), z.string()]).nullish().catch(undefined),
  message: z.string().nullish().catch(undefined),
  detail: z.string().nullish().catch(undefined),
});

/** The upstream's own error message, or an excerpt of the body (an HTML error page from a proxy, say). */
export function upstreamMessage(text: string): string {
  if (text.trim() === '') return '(empty body)';
  try {
    const parsed = UpstreamErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      const { error, message, detail } = parsed.data;
      const found = typeof error === 'string' ? error : (error?.message ?? message ?? detail);
      if (found !== undefined && found !== null && found !== '') return excerpt(found, 500);
    }
  } catch {
    // Not JSON: the excerpt below shows it.
  }
  return excerpt(text);
}

/** Whitespace folded, cut to `maxChars` with an ellipsis. */
export function excerpt(text: string, maxChars = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty)';
  return flat.length <= maxChars ? flat : `${flat.slice(0, maxChars)}…`;
}

/** Replaces every known secret (4 characters or more), and anything after `Bearer `, with `[redacted]`. */
export function secretRedactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  const known = [...new Set(secrets.filter((secret): secret is string => secret !== undefined && secret.length >= 4))].sort((a, b) => b.length - a.length);
  return (text) => {
    let clean = text;
    for (const secret of known) clean = clean.split(secret).join('[redacted]');
    return clean.replace(/\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[redacted]');
  };
}
