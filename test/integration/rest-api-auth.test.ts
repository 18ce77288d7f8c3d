/**
 * restApiSource authentication against a local HTTP API that checks credentials: bearer, API key
 * in a header and in the query, HTTP basic, OAuth2 client credentials (token fetched, reused,
 * renewed when it expires or is refused). A request without the right credentials gets 401, which
 * fails the run, so a test passes only when every request carried them.
 */
import { describe, expect, it } from 'vitest';
import { restApiSource, RestApiError, type AuthConfig } from 'tide';
import { json, startApi, type ApiRequest } from '../helpers/http-api.ts';
import { rows, testPipeline } from '../helpers/pipelines.ts';

const ITEMS = [1, 2, 3].map((id) => ({ id }));

/** An API paging `/items` one item per page (json_link) that answers 401 unless `authorized(req)`. */
async function loadWith(auth: AuthConfig, authorized: (req: ApiRequest) => boolean) {
  const api = await startApi((req, res, base) => {
    if (!authorized(req)) return json(res, { message: 'Bad credentials' }, 401);
    const page = Number(req.query.get('page') ?? 1);
    json(res, { data: [ITEMS[page - 1]], next: page < 3 ? `${base}/items?page=${page + 1}` : null });
  });
  const src = restApiSource({ client: { baseUrl: api.base, auth, paginator: 'json_link' }, resources: ['items'] });
  const p = testPipeline({ pipelineName: 'rest_auth' });
  await p.run(src);
  return { rows: await rows(p, 'items', 'id', 'id'), api };
}

describe('restApiSource auth', () => {
  it('bearer token (also the shorthand without a type)', async () => {
    for (const auth of [{ type: 'bearer', token: 's3cret' }, { token: 's3cret' }] as AuthConfig[]) {
      const got = await loadWith(auth, (r) => r.headers.authorization === 'Bearer s3cret');
      expect(got.rows).toEqual(ITEMS);
      expect(got.api.requests).toHaveLength(3);
    }
  });

  it('API key in a header', async () => {
    const got = await loadWith({ type: 'api_key', name: 'X-API-Key', apiKey: 'k-123' }, (r) => r.headers['x-api-key'] === 'k-123');
    expect(got.rows).toEqual(ITEMS);
  });

  it('API key in the query, kept on the next-page URLs too', async () => {
    const got = await loadWith({ type: 'api_key', name: 'api_key', apiKey: 'k-123', location: 'query' }, (r) => r.query.get('api_key') === 'k-123');
    expect(got.rows).toEqual(ITEMS);
    expect(got.api.calls()).toEqual(['GET /items?api_key=k-123', 'GET /items?page=2&api_key=k-123', 'GET /items?page=3&api_key=k-123']);
  });

  it('a refused API key: RestApiError naming resource, status and the URL with the key masked', async () => {
    const err = await loadWith({ type: 'api_key', name: 'api_key', apiKey: 'wrong-key', location: 'query' }, () => false).catch((e) => e);
    expect(err).toBeInstanceOf(RestApiError);
    expect(err.resource).toBe('items');
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(false);
    expect(err.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/items\?api_key=\*\*\*$/);
    expect(err.message).toContain('401');
    expect(err.message).not.toContain('wrong-key');
  });

  it('HTTP basic', async () => {
    const expected = `Basic ${Buffer.from('ann:pa:ss').toString('base64')}`;
    const got = await loadWith({ type: 'http_basic', username: 'ann', password: 'pa:ss' }, (r) => r.headers.authorization === expected);
    expect(got.rows).toEqual(ITEMS);
  });

  describe('OAuth2 client credentials', () => {
    /** A token endpoint issuing t1, t2, … with `expiresIn`; `valid` says which tokens the API accepts. */
    async function oauth(expiresIn: number | undefined, valid: (token: string) => boolean) {
      let issued = 0;
      const tokenRequests: URLSearchParams[] = [];
      const tokens = await startApi((req, res) => {
        tokenRequests.push(new URLSearchParams(req.body));
        issued += 1;
        json(res, { access_token: `t${issued}`, token_type: 'bearer', ...(expiresIn === undefined ? {} : { expires_in: expiresIn }) });
      });
      const auth: AuthConfig = { type: 'oauth2_client_credentials', accessTokenUrl: `${tokens.base}/token`, clientId: 'cid', clientSecret: 'csecret', accessTokenRequestData: { scope: 'read' } };
      const got = await loadWith(auth, (r) => valid(String(r.headers.authorization ?? '').replace(/^Bearer /, '')));
      return { ...got, tokenRequests };
    }

    it('one token for all requests while it lives; the token request is dlt\'s form', async () => {
      const got = await oauth(3600, (t) => t === 't1');
      expect(got.rows).toEqual(ITEMS);
      expect(got.tokenRequests.map((f) => Object.fromEntries(f))).toEqual([{ client_id: 'cid', client_secret: 'csecret', grant_type: 'client_credentials', scope: 'read' }]);
    });

    it('an expired token (expires_in 0) is renewed before each request', async () => {
      const seen: string[] = [];
      const got = await oauth(0, (t) => (seen.push(t), true));
      expect(got.rows).toEqual(ITEMS);
      expect(seen).toEqual(['t1', 't2', 't3']);
      expect(got.tokenRequests).toHaveLength(3);
    });

    it('a token refused with 401 before it expires is renewed once and the request repeated', async () => {
      // the API revokes t1 after its first use
      let t1Uses = 0;
      const seen: string[] = [];
      const got = await oauth(undefined, (t) => (seen.push(t), t === 't1' ? ++t1Uses === 1 : t === 't2'));
      expect(got.rows).toEqual(ITEMS);
      expect(seen).toEqual(['t1', 't1', 't2', 't2']);
      expect(got.tokenRequests).toHaveLength(2);
      expect(got.api.calls()).toEqual(['GET /items', 'GET /items?page=2', 'GET /items?page=2', 'GET /items?page=3']);
    });

    it('a refused token request: RestApiError with the token URL and status, no secret in the message', async () => {
      const tokens = await startApi((_req, res) => json(res, { error: 'invalid_client' }, 400));
      const auth: AuthConfig = { type: 'oauth2_client_credentials', accessTokenUrl: `${tokens.base}/token`, clientId: 'cid', clientSecret: 'csecret' };
      const err = await loadWith(auth, () => true).catch((e) => e);
      expect(err).toBeInstanceOf(RestApiError);
      expect([err.resource, err.status, err.url]).toEqual(['items', 400, `${tokens.base}/token`]);
      expect(err.message).not.toContain('csecret');
    });
  });
});
