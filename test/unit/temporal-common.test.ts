/** What workflows, activities, worker and client share (temporal/): ids, search attributes, retry policy, defaults, payloads. */
import { describe, expect, it } from 'vitest';
import { SearchAttributeType } from '@temporalio/common';
import { temporalAddress, temporalNamespace, temporalTls, temporalUiUrl } from '../../temporal/connection.ts';
import { ConfigurationError } from 'tide';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BACKFILL_PROGRESS_QUERY,
  DEFAULT_TASK_QUEUE,
  backfillWorkflowId,
  intervalWorkflowId,
  manualRunWorkflowId,
  pipelineOfScheduleId,
  scheduleId,
  scheduledRunWorkflowId,
} from '../../temporal/ids.ts';
import { readTableCounts, totalRows } from '../../pipeline/counts.ts';
import { devServerSearchAttributeFlags, searchAttributeRegistrations } from '../../temporal/registration.ts';
import { activityRetryPolicy } from '../../temporal/retry.ts';
import { SA, SCHEDULED_START_TIME, resultAttributes, runAttributes, runsQuery, searchAttributeTypes } from '../../temporal/search-attributes.ts';

const iv = { start: '2026-01-05T00:00:00Z', end: '2026-01-12T00:00:00Z' };

describe('ids', () => {
  it('name every run, backfill and schedule of a pipeline under tide/<pipeline>', () => {
    expect(DEFAULT_TASK_QUEUE).toBe('tide');
    expect(intervalWorkflowId('gh', iv)).toBe('tide/gh/2026-01-05T00:00:00Z/2026-01-12T00:00:00Z');
    expect(backfillWorkflowId('gh', '2026-01-05T00:00:00Z', '2026-03-30T00:00:00Z')).toBe('tide/gh/backfill/2026-01-05T00:00:00Z/2026-03-30T00:00:00Z');
    expect(manualRunWorkflowId('gh', 1767225600000)).toBe('tide/gh/manual/1767225600000');
    expect(scheduleId('gh')).toBe('tide/gh');
    expect(scheduledRunWorkflowId('gh')).toBe('tide/gh/scheduled');
    expect(BACKFILL_PROGRESS_QUERY).toBe('progress');
  });

  it('read the pipeline back from a schedule id, and nothing from a schedule tide did not create', () => {
    expect(pipelineOfScheduleId(scheduleId('gh'))).toBe('gh');
    expect(pipelineOfScheduleId(scheduleId('a/b'))).toBe('a/b');
    expect(pipelineOfScheduleId('nightly-report')).toBeUndefined();
  });
});

describe('search attributes', () => {
  it('are one table of names and types', () => {
    expect(searchAttributeTypes()).toEqual({
      TidePipeline: SearchAttributeType.KEYWORD,
      TideKind: SearchAttributeType.KEYWORD,
      TideLoadId: SearchAttributeType.KEYWORD,
      TideIntervalStart: SearchAttributeType.DATETIME,
      TideIntervalEnd: SearchAttributeType.DATETIME,
      TideRows: SearchAttributeType.INT,
      TideSchemaChanged: SearchAttributeType.BOOL,
    });
    expect(SCHEDULED_START_TIME).toEqual({ name: 'TemporalScheduledStartTime', type: SearchAttributeType.DATETIME });
  });

  it('are registered by the worker with their IndexedValueType (KEYWORD 2, INT 3, BOOL 5, DATETIME 6)', () => {
    expect(searchAttributeRegistrations()).toEqual({
      TidePipeline: 2,
      TideKind: 2,
      TideLoadId: 2,
      TideIntervalStart: 6,
      TideIntervalEnd: 6,
      TideRows: 3,
      TideSchemaChanged: 5,
    });
  });

  it('are given to the dev server as --search-attribute flags', () => {
    expect(devServerSearchAttributeFlags()).toEqual([
      '--search-attribute', 'TidePipeline=Keyword',
      '--search-attribute', 'TideKind=Keyword',
      '--search-attribute', 'TideLoadId=Keyword',
      '--search-attribute', 'TideIntervalStart=Datetime',
      '--search-attribute', 'TideIntervalEnd=Datetime',
      '--search-attribute', 'TideRows=Int',
      '--search-attribute', 'TideSchemaChanged=Bool',
    ]);
  });

  it('of a run: pipeline and kind, and the interval as dates when there is one', () => {
    expect(runAttributes('gh', 'backfill', iv)).toEqual([
      { key: SA.pipeline, value: 'gh' },
      { key: SA.kind, value: 'backfill' },
      { key: SA.intervalStart, value: new Date('2026-01-05T00:00:00Z') },
      { key: SA.intervalEnd, value: new Date('2026-01-12T00:00:00Z') },
    ]);
    expect(runAttributes('gh', 'manual')).toEqual([
      { key: SA.pipeline, value: 'gh' },
      { key: SA.kind, value: 'manual' },
    ]);
  });

  it('of a run\'s result: rows, and the load id when something was staged', () => {
    expect(resultAttributes(28, '1767225600.000001')).toEqual([
      { key: SA.rows, value: 28 },
      { key: SA.loadId, value: '1767225600.000001' },
    ]);
    expect(resultAttributes(0, null)).toEqual([{ key: SA.rows, value: 0 }]);
    // whether the schema changed, when the run's activity reported it
    expect(resultAttributes(3, null, true)).toEqual([{ key: SA.rows, value: 3 }, { key: SA.schemaChanged, value: true }]);
    expect(resultAttributes(3, null, false)).toEqual([{ key: SA.rows, value: 3 }, { key: SA.schemaChanged, value: false }]);
  });

  it('filter a pipeline\'s runs in visibility queries, quotes escaped', () => {
    expect(runsQuery('gh')).toBe("TidePipeline = 'gh'");
    expect(runsQuery('gh', 'scheduled')).toBe("TidePipeline = 'gh' AND TideKind = 'scheduled'");
    expect(runsQuery("o'neil")).toBe("TidePipeline = 'o\\'neil'");
  });
});

describe('activity retry policy', () => {
  it('backs off exponentially from 1 s, at most 1 min apart, and lists no error types', () => {
    expect(activityRetryPolicy(5)).toEqual({ initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 });
    expect(activityRetryPolicy(10)).toEqual({ initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 });
  });
});

describe('connection defaults', () => {
  it('are TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, else localhost:7233 / default', () => {
    expect(temporalAddress({})).toBe('localhost:7233');
    expect(temporalAddress({ TEMPORAL_ADDRESS: 'temporal:7233' })).toBe('temporal:7233');
    expect(temporalNamespace({})).toBe('default');
    expect(temporalNamespace({ TEMPORAL_NAMESPACE: 'data' })).toBe('data');
  });

  it('put the Web UI at TIDE_UI_URL, else at the frontend\'s port + 1000', () => {
    expect(temporalUiUrl('localhost:7233', {})).toBe('http://127.0.0.1:8233');
    expect(temporalUiUrl('temporal.internal:7300', {})).toBe('http://temporal.internal:8300');
    expect(temporalUiUrl('temporal.internal', {})).toBe('http://temporal.internal:8233');
    expect(temporalUiUrl('localhost:7233', { TIDE_UI_URL: 'http://localhost:8080' })).toBe('http://localhost:8080');
  });
});

describe('row counts', () => {
  it('are { rows } per table, summed by totalRows', () => {
    expect(totalRows({ events: { rows: 28 }, events__tags: { rows: 3 } })).toBe(31);
    expect(totalRows({})).toBe(0);
  });

  it('are read from histories recorded when they were bare numbers', () => {
    expect(readTableCounts({ events: 28 })).toEqual({ events: { rows: 28 } });
    expect(readTableCounts({ events: { rows: 28 } })).toEqual({ events: { rows: 28 } });
  });
});

describe('temporalTls: TLS to Temporal from the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tide-tls-env-'));
  for (const f of ['ca.pem', 'c.pem', 'c.key']) writeFileSync(join(dir, f), `${f} bytes`);
  const p = (f: string) => join(dir, f);

  it('is off without any setting, on with TEMPORAL_TLS=true alone', () => {
    expect(temporalTls({})).toBeUndefined();
    expect(temporalTls({ TEMPORAL_TLS: 'false' })).toBeUndefined();
    expect(temporalTls({ TEMPORAL_TLS: 'true' })).toEqual({});
  });

  it('reads the CA, the client certificate pair and the server name', () => {
    expect(temporalTls({ TEMPORAL_TLS_CA: p('ca.pem'), TEMPORAL_TLS_CERT: p('c.pem'), TEMPORAL_TLS_KEY: p('c.key'), TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' })).toEqual({
      serverNameOverride: 'temporal.internal',
      serverRootCACertificate: Buffer.from('ca.pem bytes'),
      clientCertPair: { crt: Buffer.from('c.pem bytes'), key: Buffer.from('c.key bytes') },
    });
  });

  it('a certificate without its key, or a file that cannot be read, is a ConfigurationError naming the variable', () => {
    expect(() => temporalTls({ TEMPORAL_TLS_CERT: p('c.pem') })).toThrow(ConfigurationError);
    expect(() => temporalTls({ TEMPORAL_TLS_CA: p('missing.pem') })).toThrow(/TEMPORAL_TLS_CA: cannot read .*missing\.pem/);
  });
});
