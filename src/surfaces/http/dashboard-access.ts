import { timingSafeEqual, createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { InvalidInputError } from '../../core/errors.ts';

/** The cookie a `?token=` visit sets, so the page's own requests carry the token without script access to it. */
export const DASHBOARD_TOKEN_COOKIE = 'understudy_dashboard_token';
/** The header a script may send the token in instead. */
export const DASHBOARD_TOKEN_HEADER = 'x-understudy-token';

export interface DashboardAccessOptions {
  /** Required on every request when set (header or cookie); absent: only loopback host names are answered. */
  token?: string;
  /** Where the dashboard is mounted (`/ui`, or `/`): the cookie's path. */
  basePath?: string;
}

/** The shortest token a dashboard takes: a shorter one could be guessed. */
export const DASHBOARD_TOKEN_MIN_LENGTH = 16;

/** Refuse a dashboard token too short to keep anyone out (`understudy ui` and `understudy serve` alike); `field` names where it came from. */
export function assertDashboardToken(token: string | undefined, field: string): void {
  if (token !== undefined && token.length < DASHBOARD_TOKEN_MIN_LENGTH) throw new InvalidInputError(`the dashboard token must be at least ${DASHBOARD_TOKEN_MIN_LENGTH} characters`, { field });
}

/** Is this host name (or bind address) one of this machine's loopback names? */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
/** Compared through their digests, so the time taken says nothing about the token. */
const sameToken = (given: string, token: string): boolean => timingSafeEqual(digest(given), digest(token));

function refuse(context: Context, status: 401 | 403 | 415, message: string): Response {
  if (context.req.path.includes('/api/')) return context.json({ error: { message } }, status);
  return context.html(`<!doctype html><meta charset="utf-8"><title>Understudy</title><p style="font:16px system-ui;margin:3em">${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</p>`, status);
}

/**
 * Who may use the dashboard. Without a token (bound to 127.0.0.1) only requests addressed to a loopback host name
 * are answered, which stops a web page from reaching it by DNS rebinding. With a token, every request must carry it:
 * the `x-understudy-token` header, or the cookie set by a first visit to `?token=...` (which then redirects to the
 * same address without it). Writes must be JSON from the same origin, so another site's form cannot post one.
 */
export function dashboardAccess(options: DashboardAccessOptions = {}): MiddlewareHandler {
  const { token, basePath = '/' } = options;
  return async function checkDashboardAccess(context, next) {
    const url = new URL(context.req.url);
    if (token === undefined) {
      if (!isLoopbackHost(url.hostname)) return refuse(context, 403, `this dashboard has no token, so it answers only to 127.0.0.1 or localhost, not ${url.hostname}`);
    } else {
      const offered = url.searchParams.get('token');
      if (offered !== null && context.req.method === 'GET' && sameToken(offered, token)) {
        setCookie(context, DASHBOARD_TOKEN_COOKIE, token, { path: basePath, httpOnly: true, sameSite: 'Strict' });
        url.searchParams.delete('token');
        return context.redirect(`${url.pathname}${url.search}`, 302);
      }
      const given = context.req.header(DASHBOARD_TOKEN_HEADER) ?? getCookie(context, DASHBOARD_TOKEN_COOKIE);
      if (given === undefined || !sameToken(given, token)) {
        return refuse(context, 401, given === undefined ? 'this dashboard needs its token: open the address `understudy ui` (or `understudy serve`) printed, which ends in ?token=...' : 'the dashboard token is not valid');
      }
    }
    if (context.req.method !== 'GET' && context.req.method !== 'HEAD') {
      const origin = context.req.header('origin');
      if (origin !== undefined && origin !== url.origin) return refuse(context, 403, `a write from another origin (${origin}) is refused`);
      if (!(context.req.header('content-type') ?? '').startsWith('application/json')) return refuse(context, 415, 'writes take a JSON body (content-type: application/json)');
    }
    await next();
    return undefined;
  };
}
