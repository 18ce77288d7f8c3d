import { describe, expect, it } from 'vitest';
import { resource, source } from 'tide';
import { rows, testPipeline } from '../helpers/pipelines.ts';

describe('engine smoke', () => {
  it('appends nested data and commits state with it', async () => {
    const p = testPipeline({ pipelineName: 'smoke' });
    const issues = resource(
      function* (ctx) {
        const n = ((ctx.state.runs as number) ?? 0) + 1;
        ctx.state.runs = n;
        yield [{ id: n * 10 + 1, title: 'a', labels: ['x', 'y'], user: { login: 'u1' } }, { id: n * 10 + 2, title: 'b', labels: [] }];
      },
      { name: 'issues' },
    );
    const info = await p.run(source('gh', [issues]));
    expect(info.tables).toEqual({ issues: { rows: 2 }, issues__labels: { rows: 2 } });
    const r = await rows(p, 'issues', 'id', 'id, title, user__login');
    expect(r).toEqual([
      { id: 11, title: 'a', user__login: 'u1' },
      { id: 12, title: 'b', user__login: null },
    ]);
    await p.run(source('gh', [issues]));
    expect(p.state.sources).toEqual({ gh: { resources: { issues: { runs: 2 } } } });
    expect((await rows(p, 'issues', 'id', 'id')).map((x) => x.id)).toEqual([11, 12, 21, 22]);
    await p.close();
  });
});
