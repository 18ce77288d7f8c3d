/**
 * Authentication: dlt's rest_api auth kinds, camelCased. An `Auth` puts its
 * credentials on each request and names the query params it adds, so error messages can mask them.
 */
import { ConfigurationError, RestApiError } from '../../pipeline/errors.ts';

/** How long a token request may take (a resource request's timeout is the client's `timeout`). */
const TOKEN_TIMEOUT_MS = 60_000;

/** The parts of a request an auth may set. */
export interface AuthRequest {
  url: URL;
  headers: Headers;
}

/** An authentication scheme (implement it for a custom one). */
export interface Auth {
  /** Puts the credentials on the request (may fetch a token first). */
  apply(req: AuthRequest): Promise<void> | void;
  /** Called once when a request is refused with 401: true when fresh credentials are worth a retry (a renewed token). */
  renew?(): boolean;
  /** Query params that carry secrets (masked in error messages). */
  readonly secretParams?: readonly string[];
}

export interface BearerTokenAuthConfig { type?: 'bearer'; token: string }
export interface ApiKeyAuthConfig { type: 'api_key'; apiKey: string; name?: string; location?: 'header' | 'query' }
export interface HttpBasicAuthConfig { type: 'http_basic'; username: string; password: string }
export interface OAuth2ClientCredentialsConfig {
  type: 'oauth2_client_credentials';
  accessTokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Extra form fields of the token request (e.g. `{ scope: 'read' }`). */
  accessTokenRequestData?: Record<string, string>;
  /** Seconds a token lives when the token response has no `expires_in` (default 3600). */
  defaultTokenExpiration?: number;
}

export type AuthConfig = BearerTokenAuthConfig | ApiKeyAuthConfig | HttpBasicAuthConfig | OAuth2ClientCredentialsConfig | Auth;

class BearerToken implements Auth {
  constructor(private readonly token: string) {}
  apply(req: AuthRequest): void {
    req.headers.set('authorization', `Bearer ${this.token}`);
  }
}

class ApiKey implements Auth {
  readonly secretParams: readonly string[];
  constructor(private readonly key: string, private readonly name: string, private readonly location: 'header' | 'query') {
    this.secretParams = location === 'query' ? [name] : [];
  }
  apply(req: AuthRequest): void {
    if (this.location === 'header') req.headers.set(this.name, this.key);
    else req.url.searchParams.set(this.name, this.key);
  }
}

class HttpBasic implements Auth {
  constructor(private readonly username: string, private readonly password: string) {}
  apply(req: AuthRequest): void {
    req.headers.set('authorization', `Basic ${Buffer.from(`${this.username}:${this.password}`).toString('base64')}`);
  }
}

/**
 * OAuth2 client credentials: a token from `accessTokenUrl`, kept until `expires_in` runs out and
 * then fetched again; a 401 before that (a revoked token) renews it once.
 */
class OAuth2ClientCredentials implements Auth {
  #token?: string;
  #expiresAt = 0;
  #pending?: Promise<void>;
  constructor(private readonly c: OAuth2ClientCredentialsConfig) {}
  async apply(req: AuthRequest): Promise<void> {
    if (this.#token === undefined || Date.now() >= this.#expiresAt) {
      // concurrent requests (parallelized transformers) share one token request
      this.#pending ??= this.#obtain().finally(() => (this.#pending = undefined));
      await this.#pending;
    }
    req.headers.set('authorization', `Bearer ${this.#token}`);
  }
  renew(): boolean {
    this.#token = undefined;
    return true;
  }
  async #obtain(): Promise<void> {
    const form = new URLSearchParams({ client_id: this.c.clientId, client_secret: this.c.clientSecret, grant_type: 'client_credentials', ...this.c.accessTokenRequestData });
    const res = await fetch(this.c.accessTokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form, signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS) });
    const body = (await res.json().catch(() => undefined)) as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (!res.ok || typeof body?.access_token !== 'string') {
      const url = new URL(this.c.accessTokenUrl);
      url.username = url.password = url.search = '';
      throw new RestApiError(`OAuth2 token request to ${url} answered ${res.status} ${res.statusText} without an access_token`, { url: url.toString(), status: res.status });
    }
    this.#token = body.access_token;
    const seconds = Number(body.expires_in ?? this.c.defaultTokenExpiration ?? 3600);
    this.#expiresAt = Date.now() + (Number.isFinite(seconds) ? seconds : 3600) * 1000;
  }
}

function need(c: object, keys: string[], kind: string): void {
  const missing = keys.filter((k) => typeof (c as Record<string, unknown>)[k] !== 'string' || (c as Record<string, string>)[k] === '');
  if (missing.length) throw new ConfigurationError(`${kind} auth needs ${missing.join(', ')}`);
}

/** The Auth of a config; a `{ token }` without a type is bearer, as in dlt. */
export function createAuth(config: AuthConfig | undefined): Auth | undefined {
  if (config === undefined) return undefined;
  if (typeof (config as Auth).apply === 'function') return config as Auth;
  const c = config as Exclude<AuthConfig, Auth>;
  switch (c.type) {
    case undefined:
    case 'bearer':
      need(c, ['token'], 'bearer');
      return new BearerToken((c as BearerTokenAuthConfig).token);
    case 'api_key':
      need(c, ['apiKey'], 'api_key');
      if (c.location !== undefined && c.location !== 'header' && c.location !== 'query') {
        throw new ConfigurationError(`api_key auth location must be 'header' or 'query', got ${JSON.stringify(c.location)}`);
      }
      return new ApiKey(c.apiKey, c.name ?? 'Authorization', c.location ?? 'header');
    case 'http_basic':
      need(c, ['username', 'password'], 'http_basic');
      return new HttpBasic(c.username, c.password);
    case 'oauth2_client_credentials':
      need(c, ['accessTokenUrl', 'clientId', 'clientSecret'], 'oauth2_client_credentials');
      return new OAuth2ClientCredentials(c);
    default:
      throw new ConfigurationError(`Unknown auth type ${JSON.stringify((c as { type: unknown }).type)}: use bearer, api_key, http_basic or oauth2_client_credentials`);
  }
}
