/**
 * The HTTP client of the REST API source: one request with auth, a timeout and retries (429 and
 * 5xx honouring `Retry-After`, network errors, with exponential backoff), and the page loop that
 * drives a paginator. dlt's defaults (its REST client and the `requests` helper it uses): 5
 * attempts, backoff factor 1 s, at most 300 s between attempts, a 60 s timeout. Built on Node's
 * fetch with no HTTP library: the retry loop must also run response actions first and renew
 * credentials on a 401, which a retry library would leave to hooks around the same few lines.
 */
import { RestApiError } from '../../pipeline/errors.ts';
import type { Auth } from './auth.ts';
import { selectRecords } from './data-selector.ts';
import type { PageRequest, Paginator } from './paginators.ts';
import { ignored, type ResponseAction } from './response-actions.ts';

export interface HttpRetryConfig {
  /** Attempts per request, the first included (default 5). */
  maxAttempts?: number;
  /** Seconds; attempt n waits backoffFactor · 2^(n-1) unless the server sent Retry-After (default 1). */
  backoffFactor?: number;
  /** Seconds; no wait is longer, Retry-After included (default 300). */
  maxDelay?: number;
}

/** One endpoint request, placeholders already expanded. */
export interface EndpointRequest {
  method: 'GET' | 'POST';
  path: string;
  params: Record<string, unknown>;
  json?: unknown;
  headers?: Record<string, string>;
}

export interface PaginateOptions {
  paginator: Paginator;
  dataSelector?: string;
  responseActions?: readonly ResponseAction[];
  auth?: Auth;
  resource: string;
  log?: (message: string) => void;
}

interface Settings {
  baseUrl: string;
  headers: Record<string, string>;
  /** seconds */
  timeout: number;
  retry: Required<HttpRetryConfig>;
}

/** Query params whose values are secrets wherever they appear (dlt's list). */
const SENSITIVE_PARAMS = ['api_key', 'token', 'key', 'access_token', 'apikey', 'api-key', 'access-token', 'secret', 'password', 'pwd', 'client_secret'];

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

export class RestClient {
  readonly #s: Settings;
  constructor(settings: Settings) {
    this.#s = settings;
  }

  /** The pages (record lists) of one endpoint, request after request until the paginator says stop. */
  async *paginate(request: EndpointRequest, o: PaginateOptions): AsyncGenerator<unknown[]> {
    const req: PageRequest = { url: this.#url(request.path), params: { ...request.params }, json: request.json };
    o.paginator.init(req);
    for (;;) {
      const res = await this.#send(request.method, req, request.headers, o);
      if (!res) return;
      const records = selectRecords(res.body, o.dataSelector);
      o.paginator.update(res, records);
      if (records.length) yield records;
      if (!o.paginator.hasNextPage) return;
      o.paginator.next(req);
    }
  }

  /** `path` under the base URL, or `path` itself when it is a full URL. */
  #url(path: string): string {
    if (/^https?:\/\//i.test(path)) return path;
    const base = this.#s.baseUrl.replace(/\/+$/, '');
    return path ? `${base}/${path.replace(/^\/+/, '')}` : base;
  }

  /** One request with retries; undefined when a response action ignores the response. */
  async #send(method: string, req: PageRequest, headers: Record<string, string> | undefined, o: PaginateOptions) {
    const { maxAttempts } = this.#s.retry;
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      const url = withParams(req.url, req.params);
      const h = new Headers({ accept: 'application/json', ...this.#s.headers, ...headers });
      if (req.json !== undefined) h.set('content-type', 'application/json');
      await o.auth?.apply({ url, headers: h });
      const shown = redact(url, o.auth);
      let res: Response;
      let text: string;
      try {
        res = await fetch(url, { method, headers: h, body: req.json === undefined ? undefined : JSON.stringify(req.json), signal: AbortSignal.timeout(this.#s.timeout * 1000) });
        text = await res.text();
      } catch (e) {
        if (attempt < maxAttempts) {
          await this.#wait(this.#backoff(attempt), `${method} ${shown} failed (${(e as Error).message})`, o);
          continue;
        }
        throw new RestApiError(`${method} ${shown} failed after ${attempt} attempts: ${(e as Error).message}`, { resource: o.resource, url: shown, cause: e });
      }
      if (ignored(o.responseActions, { status: res.status, headers: res.headers, text, url: shown })) return undefined;
      if (res.status === 401 && !renewed && o.auth?.renew?.()) {
        // fresh credentials (a renewed token) get one more try that does not count as a retry
        renewed = true;
        attempt--;
        continue;
      }
      if ((res.status === 429 || res.status >= 500) && attempt < maxAttempts) {
        await this.#wait(retryAfter(res.headers) ?? this.#backoff(attempt), `${method} ${shown} answered ${res.status}`, o);
        continue;
      }
      if (!res.ok) {
        const tries = attempt > 1 ? ` after ${attempt} attempts` : '';
        throw new RestApiError(`${method} ${shown} failed${tries} with ${res.status} ${res.statusText}: ${text.slice(0, 300)}`, { resource: o.resource, url: shown, status: res.status });
      }
      return { url: res.url || url.toString(), headers: res.headers, body: parseBody(text, shown, res.status, o.resource) };
    }
  }

  #backoff(attempt: number): number {
    return this.#s.retry.backoffFactor * 2 ** (attempt - 1);
  }

  async #wait(seconds: number, why: string, o: PaginateOptions): Promise<void> {
    const s = Math.min(Math.max(seconds, 0), this.#s.retry.maxDelay);
    o.log?.(`${why}; retrying in ${s}s`);
    await sleep(s);
  }
}

function withParams(base: string, params: Record<string, unknown>): URL {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    url.searchParams.delete(k);
    for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, one instanceof Date ? one.toISOString() : String(one));
  }
  return url;
}

/** The URL as it may be shown: no user info, secret query params as `***`. */
export function redact(url: URL, auth?: Auth): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  const secret = new Set([...SENSITIVE_PARAMS, ...(auth?.secretParams ?? [])].map((s) => s.toLowerCase()));
  for (const k of [...new Set(u.searchParams.keys())]) if (secret.has(k.toLowerCase())) u.searchParams.set(k, '***');
  return u.toString().replaceAll('%2A%2A%2A', '***');
}

/** Retry-After in seconds (a number of seconds or an HTTP date), or undefined. */
function retryAfter(h: Headers): number | undefined {
  const v = h.get('retry-after');
  if (v === null || v.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

function parseBody(text: string, url: string, status: number, resource: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RestApiError(`${url} answered ${status} with a body that is not JSON: ${text.slice(0, 300)}`, { resource, url, status, cause: e });
  }
}

export function clientSettings(c: { baseUrl: string; headers?: Record<string, string>; timeout?: number; retry?: HttpRetryConfig }): Settings {
  return {
    baseUrl: c.baseUrl,
    headers: c.headers ?? {},
    timeout: c.timeout ?? 60,
    retry: { maxAttempts: c.retry?.maxAttempts ?? 5, backoffFactor: c.retry?.backoffFactor ?? 1, maxDelay: c.retry?.maxDelay ?? 300 },
  };
}
