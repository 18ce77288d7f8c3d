/**
 * Pools (issue 15, item 4): pipelines sharing `pool: 'api'` run their extracts on the pool's task
 * queue, which a worker serves `--pool api=2`: six pipelines started at once never have more than
 * two extracts running. Each resource holds a slot until the test has seen the peak.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { definePipeline, resource } from 'tide';
import { datasetName } from '../helpers/pipelines.ts';
import { withWorker } from '../helpers/temporal.ts';
import { parsePool } from '../../client/cli.ts';

describe('pools', () => {
  it('six pipelines in one pool of 2 never have more than two extracts running', async () => {
    let running = 0;
    let peak = 0;
    const order: string[] = [];
    const defs = Array.from({ length: 6 }, (_, i) =>
      definePipeline({
        name: `pool_${i}_${Date.now()}`,
        datasetName: datasetName('pool'),
        pool: 'api',
        source: () =>
          resource(
            async function* () {
              running++;
              peak = Math.max(peak, running);
              order.push(`start ${i}`);
              // long enough for the other four to be offered to the worker meanwhile
              await sleep(400);
              order.push(`end ${i}`);
              running--;
              yield [{ id: i }];
            },
            { name: 'items' },
          ),
      }),
    );
    const pools = Object.fromEntries([parsePool('api=2')]);
    await withWorker(
      defs,
      async (client) => {
        const results = await Promise.all(defs.map((d) => client.runNow(d.name)));
        expect(results.map((r) => r.rows)).toEqual([1, 1, 1, 1, 1, 1]);
      },
      { pools, maxConcurrentActivities: 8 },
    );
    // the main queue alone (8 at once) would have run all six together
    expect(peak).toBe(2);
    expect(order.filter((x) => x.startsWith('start'))).toHaveLength(6);
  });

  it('--pool parses NAME=N[,rate=R/s] and rejects anything else', () => {
    expect(parsePool('github-api=2')).toEqual(['github-api', { concurrency: 2 }]);
    expect(parsePool('db=3,rate=5/s')).toEqual(['db', { concurrency: 3, ratePerSecond: 5 }]);
    for (const bad of ['x', 'x=0', 'x=2,rate=5', 'a b=1']) expect(() => parsePool(bad)).toThrow(/--pool/);
  });
});
