/**
 * Schema changes and contracts on Temporal: a run's result and memo carry what it added to the
 * schema (and what its contract dropped), the `TideSchemaChanged` search attribute says whether it
 * added anything, and a frozen contract fails the run without retries and without writing.
 */
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { definePipeline, pipeline, postgres, resource, source, type SchemaContract } from 'tide';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { withWorker } from '../helpers/temporal.ts';

const SCHEMA_CHANGED = defineSearchAttributeKey('TideSchemaChanged', SearchAttributeType.BOOL);

/** A pipeline whose `items` are whatever `data.items` holds when a run starts, next to a one-row `other`. */
function itemsPipeline(name: string, ds: string, data: { items: unknown[] }, runOptions: { schemaContract?: SchemaContract } = {}, decompose?: 'serialize') {
  return definePipeline({
    name,
    datasetName: ds,
    source: () => source('src', [resource(data.items, { name: 'items' }), resource([{ k: 1 }], { name: 'other' })]),
    runOptions,
    ...(decompose ? { decompose } : {}),
  });
}

async function itemsOf(ds: string) {
  const p = pipeline({ pipelineName: 'reader', destination: postgres(pgUrl()), datasetName: ds, pipelinesDir: tempDir() });
  try {
    const loads = await p.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${ds}"._dlt_loads`);
    return { items: await p.query(`SELECT * FROM "${ds}".items ORDER BY name`).then((r) => r.map(({ id, name, extra, id__v_text }) => ({ id, name, extra, id__v_text }))), loads: loads[0].n };
  } finally {
    await p.close();
  }
}

const FIRST = [{ id: 1, name: 'a' }];
const SECOND = [
  { id: 2, name: 'b', extra: 'x' },
  { id: 'three', name: 'c' },
];

describe('schema changes on Temporal', () => {
  it('the result, the memo summary and TideSchemaChanged report new tables, columns and variants', async () => {
    const data: { items: unknown[] } = { items: FIRST };
    const def = itemsPipeline(`schema_changes_${Date.now()}`, datasetName('sc'), data);
    await withWorker([def], async (client) => {
      const runAndDescribe = async (items: unknown[]) => {
        data.items = items;
        const h = await client.startRun(def.name);
        const result = await h.result();
        const d = await h.describe();
        return { result, changed: d.typedSearchAttributes.get(SCHEMA_CHANGED), summary: d.memo?.summary as string };
      };
      const first = await runAndDescribe(FIRST);
      expect(first.result.schemaChanges).toEqual({ tables: ['items', 'other'], columns: [], variants: [] });
      expect(first.result.discarded).toEqual({});
      expect(first.changed).toBe(true);
      expect(first.summary).toContain('; schema: new tables items, other');

      const second = await runAndDescribe(SECOND);
      expect(second.result.schemaChanges).toEqual({
        tables: [],
        columns: [{ table: 'items', column: 'extra', dataType: 'text' }],
        variants: [{ table: 'items', column: 'id__v_text', dataType: 'text' }],
      });
      expect(second.changed).toBe(true);
      expect(second.summary).toContain('; schema: new columns items.extra (text); new variant columns items.id__v_text (text)');

      const third = await runAndDescribe(SECOND);
      expect(third.result.schemaChanges).toEqual({ tables: [], columns: [], variants: [] });
      expect(third.changed).toBe(false);
      expect(third.summary).not.toContain('schema:');
    });
  });

  it("a decomposed run reports its components' changes and discarded counts together", async () => {
    const data: { items: unknown[] } = { items: FIRST };
    const contract: SchemaContract = { tables: 'evolve', columns: 'discard_value', data_type: 'discard_row' };
    const def = itemsPipeline(`schema_changes_dec_${Date.now()}`, datasetName('sc'), data, { schemaContract: contract }, 'serialize');
    await withWorker([def], async (client) => {
      const first = await client.runNow(def.name);
      data.items = SECOND;
      expect(first.schemaChanges).toEqual({ tables: ['items', 'other'], columns: [], variants: [] });
      const second = await client.runNow(def.name);
      expect(second.schemaChanges).toEqual({ tables: [], columns: [], variants: [] });
      expect(second.discarded).toEqual({ items: { rows: 1, values: 1 } });
      expect((await itemsOf(def.datasetName!)).items).toEqual([
        { id: 1, name: 'a', extra: undefined, id__v_text: undefined },
        { id: 2, name: 'b', extra: undefined, id__v_text: undefined },
      ]);
    });
  });

  it('a frozen contract fails the run at once (non-retryable DataContractViolation) and writes nothing', async () => {
    const name = `schema_freeze_${Date.now()}`;
    const ds = datasetName('sc');
    const def = itemsPipeline(name, ds, { items: FIRST });
    const frozen = itemsPipeline(name, ds, { items: SECOND }, { schemaContract: 'freeze' });
    await withWorker([def], async (client) => {
      await client.runNow(def.name);
    });
    await withWorker([frozen], async (client) => {
      const h = await client.startRun(def.name);
      const err = await h.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const activity = (err as WorkflowFailedError).cause;
      expect(activity).toBeInstanceOf(ActivityFailure);
      const app = (activity as ActivityFailure).cause as ApplicationFailure;
      expect(app.type).toBe('DataContractViolation');
      expect(app.nonRetryable).toBe(true);
      expect(app.details?.[0]).toMatchObject({ table: 'items', column: 'extra', resource: 'items' });
      expect(app.message).toContain('column "extra"');
      // one attempt: retrying the same data cannot help
      const history = await h.fetchHistory();
      expect(history.events?.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1, 1]);
    });
    expect(await itemsOf(def.datasetName!)).toEqual({ items: [{ id: 1, name: 'a', extra: undefined, id__v_text: undefined }], loads: 1 });
  });
});
