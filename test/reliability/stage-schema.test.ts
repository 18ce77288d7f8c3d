/**
 * Found by the SIGKILL suite: a run through the orchestrated path (`extract` → `load`, what every
 * Temporal run does) must not store a new schema version when nothing in the schema changed.
 */
import { describe, expect, it } from 'vitest';
import { incremental, resource } from 'tide';
import type { WriteDisposition } from 'tide';
import { testPipeline } from '../helpers/pipelines.ts';

const DISPOSITIONS: [string, WriteDisposition][] = [
  ['append', 'append'],
  ['merge delete-insert', { disposition: 'merge', strategy: 'delete-insert' }],
  ['merge upsert', { disposition: 'merge', strategy: 'upsert' }],
  ['merge scd2', { disposition: 'merge', strategy: 'scd2' }],
];

describe('reliability: schema versions of staged runs', () => {
  for (const [label, wd] of DISPOSITIONS) {
    it(`${label}: 4 extract+load runs of one unchanged shape store ONE _dlt_version row`, async () => {
      const p = testPipeline({ pipelineName: 'stage_schema' });
      try {
        for (let n = 1; n <= 4; n++) {
          const r = resource([{ id: n, seq: n, value: `v${n}` }], {
            name: 'items',
            primaryKey: wd === 'append' ? undefined : 'id',
            writeDisposition: wd,
            incremental: incremental('seq', { initialValue: 0 }),
          });
          const staged = await p.extract(r);
          await p.load(staged.loadId!);
        }
        const versions = await p.query<{ version: number; version_hash: string }>(`SELECT version, version_hash FROM "${p.datasetName}"."_dlt_version" ORDER BY version`);
        expect(versions.map((v) => v.version)).toEqual([1]);
      } finally {
        await p.close();
      }
    });
  }
});
