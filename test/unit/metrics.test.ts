/**
 * The worker's metrics endpoint (worker/metrics.ts): `--metrics HOST:PORT` parsing, and what a scrape
 * shows after a step attempt is reported (without Temporal; test/e2e/observe.test.ts runs it for real).
 */
import { describe, expect, it } from 'vitest';
import { TideError } from 'tide';
import { parseListen, serveMetrics, TideMetrics } from '../../worker/metrics.ts';
import { StepLog } from '../../pipeline/run-log.ts';

describe('worker metrics', () => {
  it('parses HOST:PORT (IPv6 in brackets) and names the flag when it cannot', () => {
    expect(parseListen('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    for (const bad of ['9464', '127.0.0.1', '127.0.0.1:99999', ':9464', 'host:port']) {
      expect(() => parseListen(bad), bad).toThrow(TideError);
      expect(() => parseListen(bad), bad).toThrow(`--metrics ${bad}: expected HOST:PORT, e.g. 127.0.0.1:9464`);
    }
  });

  it('serves what the steps reported at /metrics, and 404 elsewhere', async () => {
    const m = new TideMetrics();
    const failed = new StepLog('extract', 1, 'a');
    failed.failed(new TideError('boom'));
    failed.close('failed');
    const retried = new StepLog('extract', 2, 'a');
    retried.items = 7;
    retried.close('done');
    const load = new StepLog('load', 1);
    load.loaded = { t: { rows: 5 }, t__c: { rows: 2 } };
    load.close('done');
    for (const s of [failed, retried, load]) m.step('p', s);
    m.runFinished({ pipeline: 'p', kind: 'backfill', status: 'completed', durationMs: 2500 });
    const { server, url } = await serveMetrics(m, { host: '127.0.0.1', port: 0 });
    try {
      const text = await (await fetch(url)).text();
      // a step's duration sum is its measured time: S
      const lines = text
        .split('\n')
        .filter((l) => /^tide_[a-z_]+(_total|_count|_sum)\{/.test(l))
        .map((l) => l.replace(/^(tide_step_duration_seconds_sum\{[^}]*\}) \d+(\.\d+)?(e-\d+)?$/, '$1 S'));
      expect(lines.sort()).toEqual(
        [
          'tide_items_extracted_total{pipeline="p"} 7',
          'tide_rows_loaded_total{pipeline="p",table="t"} 5',
          'tide_rows_loaded_total{pipeline="p",table="t__c"} 2',
          'tide_run_duration_seconds_count{pipeline="p",kind="backfill",status="completed"} 1',
          'tide_run_duration_seconds_sum{pipeline="p",kind="backfill",status="completed"} 2.5',
          'tide_step_duration_seconds_count{pipeline="p",step="extract",outcome="done"} 1',
          'tide_step_duration_seconds_count{pipeline="p",step="extract",outcome="failed"} 1',
          'tide_step_duration_seconds_count{pipeline="p",step="load",outcome="done"} 1',
          'tide_step_duration_seconds_sum{pipeline="p",step="extract",outcome="done"} S',
          'tide_step_duration_seconds_sum{pipeline="p",step="extract",outcome="failed"} S',
          'tide_step_duration_seconds_sum{pipeline="p",step="load",outcome="done"} S',
          'tide_step_failures_total{pipeline="p",step="extract",error="TideError"} 1',
          'tide_step_retries_total{pipeline="p",step="extract"} 1',
        ].sort(),
      );
      expect((await fetch(url.replace('/metrics', '/'))).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
