/**
 * The README example as a restApiSource config, against the example's GitHub-like API
 * (examples/github-api.ts: Link-header pages, since/until, 429s with a fractional Retry-After): over
 * the same data interval and then incrementally, it loads exactly the rows the hand-written
 * generator of examples/github.ts loads.
 */
import { describe, expect, it } from 'vitest';
import { source } from 'tide';
import { startGithubApi } from '../../examples/github-api.ts';
import { githubRestSource, repoIssues } from '../../examples/github.ts';
import { onCleanup, rows, testPipeline } from '../helpers/pipelines.ts';
import { cursorState } from '../helpers/incremental-util.ts';

const COLUMNS = 'id, number, title, state, updated_at, created_at, comments, user__login';

/** The nested labels table, by issue id and position. */
function labels(p: ReturnType<typeof testPipeline>) {
  return p.query(
    `SELECT i.id, l.name, l.color, l._dlt_list_idx FROM "${p.datasetName}".issues__labels l JOIN "${p.datasetName}".issues i ON i._dlt_id = l._dlt_parent_id ORDER BY i.id, l._dlt_list_idx`,
  );
}

describe('the README example as a restApiSource config', () => {
  it('loads what the hand-written generator loads: over an interval, then incrementally', async () => {
    const api = await startGithubApi({ rateLimitEvery: 4, now: () => new Date('2026-02-01T00:00:00Z') });
    onCleanup(() => api.close());
    const rest = testPipeline({ pipelineName: 'github' });
    const hand = testPipeline({ pipelineName: 'github' });
    const handSource = source('github', [repoIssues.bind(api.url, 'tide-dev/tide')]);
    // per_page 7: several pages per week
    const restSource = await githubRestSource('tide-dev/tide', { apiUrl: api.url, perPage: 7 });

    const week = { start: '2026-01-05T00:00:00Z', end: '2026-01-12T00:00:00Z' };
    const a = await rest.run(restSource, { interval: week });
    const b = await hand.run(handSource, { interval: week });
    expect(a.tables.issues.rows).toBeGreaterThan(20);
    expect(a.tables).toEqual(b.tables);
    expect(await rows(rest, 'issues', 'id', COLUMNS)).toEqual(await rows(hand, 'issues', 'id', COLUMNS));
    expect(await labels(rest)).toEqual(await labels(hand));
    expect((await labels(rest)).length).toBeGreaterThan(10);

    // then the stateful run from initialValue up to the API's clock
    const before = api.requests();
    await rest.run(restSource);
    await hand.run(handSource);
    expect(api.requests() - before).toBeGreaterThan(2 * 4); // several pages, so some answered 429 and were retried
    expect(await rows(rest, 'issues', 'id', COLUMNS)).toEqual(await rows(hand, 'issues', 'id', COLUMNS));
    expect(await labels(rest)).toEqual(await labels(hand));
    expect(cursorState(rest, 'github', 'issues', 'updated_at')).toEqual(cursorState(hand, 'github', 'issues', 'updated_at'));
  });
});
