/**
 * The README demo: GitHub-like issues over HTTP, loaded with merge on `id`, incrementally by
 * `updated_at`. On a schedule or in a backfill the run's data interval becomes the cursor range
 * (`allowExternalSchedulers`), so backfills never touch the daily run's cursor.
 */
import { incremental, resource, restApiSource, source } from 'tide';
import { startGithubApi, type RunningApi } from './github-api.ts';

/** GET with the API's rate limit honoured (429 → wait `retry-after`, retry). */
async function getJson(url: string): Promise<{ body: unknown; next?: string }> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(url);
    if (res.status === 429 && attempt < 10) {
      const wait = Number(res.headers.get('retry-after') ?? '1') * 1000;
      await new Promise((r) => setTimeout(r, wait));
      continue;
    }
    if (!res.ok) throw new Error(`GET ${url} → ${res.status} ${await res.text()}`);
    const link = res.headers.get('link') ?? '';
    const next = /<([^>]+)>;\s*rel="next"/.exec(link)?.[1];
    return { body: await res.json(), next };
  }
}

/** Issues of one repository, page by page, from the cursor's start value (and up to its end value). */
export const repoIssues = resource(
  async function* (ctx, apiUrl: string, repository: string) {
    const inc = ctx.incremental!;
    const params = new URLSearchParams({ since: String(inc.startValue), per_page: '100' });
    if (inc.endValue !== undefined && inc.endValue !== null) params.set('until', String(inc.endValue));
    let url: string | undefined = `${apiUrl}/repos/${repository}/issues?${params}`;
    while (url) {
      const { body, next } = await getJson(url);
      yield body as unknown[];
      url = next;
    }
  },
  {
    name: 'issues',
    writeDisposition: 'merge',
    primaryKey: 'id',
    columns: { updated_at: { dedupSort: 'desc' } },
    incremental: incremental('updated_at', { initialValue: '2026-01-01T00:00:00Z', allowExternalSchedulers: true }),
  },
);

let api: Promise<RunningApi> | undefined;
/** The example's API, started once per process (its URL can be pinned with `GITHUB_API_URL`). */
export async function exampleApiUrl(): Promise<string> {
  if (process.env.GITHUB_API_URL) return process.env.GITHUB_API_URL;
  api ??= startGithubApi();
  return (await api).url;
}

/** The GitHub source of the demo, written by hand with the low-level API (`resource`, `incremental`). */
export async function githubSource(repository = 'tide-dev/tide') {
  return source('github', [repoIssues.bind(await exampleApiUrl(), repository)]);
}

/**
 * The same source as a `restApiSource` config: Link-header pages, `since` / `until` from the
 * incremental (or a scheduler's interval), 429s retried after `Retry-After`. It loads exactly what
 * `githubSource` loads (test/integration/rest-api-example.test.ts).
 */
export async function githubRestSource(repository = 'tide-dev/tide', { apiUrl, perPage = 100 }: { apiUrl?: string; perPage?: number } = {}) {
  return restApiSource(
    {
      client: { baseUrl: `${apiUrl ?? (await exampleApiUrl())}/repos/${repository}/`, paginator: 'header_link' },
      resources: [
        {
          name: 'issues',
          writeDisposition: 'merge',
          primaryKey: 'id',
          columns: { updated_at: { dedupSort: 'desc' } },
          endpoint: {
            path: 'issues',
            params: {
              per_page: perPage,
              since: { type: 'incremental', cursorPath: 'updated_at', initialValue: '2026-01-01T00:00:00Z', endParam: 'until', allowExternalSchedulers: true },
            },
          },
        },
      ],
    },
    { name: 'github' },
  );
}
