/**
 * A dataset dlt created (its bookkeeping tables as dlt's DDL makes them, without tide's ledger
 * columns) takes tide's loads; and the stored schema tide restores is the newest row, as dlt picks it.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgres, resource } from 'tide';
import { datasetName, pgUrl, rows, testPipeline } from '../helpers/pipelines.ts';

let db: pg.Pool;
beforeAll(() => {
  db = new pg.Pool({ connectionString: pgUrl(), max: 2 });
});
afterAll(() => db.end());

/** dlt 1.26's DDL of its bookkeeping tables on Postgres. */
async function createAsDlt(ds: string): Promise<void> {
  await db.query(`CREATE SCHEMA "${ds}"`);
  await db.query(
    `CREATE TABLE "${ds}"."_dlt_loads" ("load_id" varchar NOT NULL, "schema_name" varchar, "status" bigint NOT NULL, "inserted_at" timestamp with time zone NOT NULL, "schema_version_hash" varchar)`,
  );
  await db.query(
    `CREATE TABLE "${ds}"."_dlt_version" ("version" bigint NOT NULL, "engine_version" bigint NOT NULL, "inserted_at" timestamp with time zone NOT NULL, "schema_name" varchar NOT NULL, "version_hash" varchar NOT NULL, "schema" varchar NOT NULL)`,
  );
  await db.query(
    `CREATE TABLE "${ds}"."_dlt_pipeline_state" ("version" bigint NOT NULL, "engine_version" bigint NOT NULL, "pipeline_name" varchar NOT NULL, "state" varchar NOT NULL, "created_at" timestamp with time zone NOT NULL, "version_hash" varchar, "_dlt_load_id" varchar NOT NULL, "_dlt_id" varchar UNIQUE NOT NULL)`,
  );
}

const ledgerColumns = async (ds: string) =>
  (await db.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = '_dlt_loads' ORDER BY ordinal_position`, [ds])).rows.map((r) => r.column_name);

const DLT_COLUMNS = ['load_id', 'schema_name', 'status', 'inserted_at', 'schema_version_hash'];
const TIDE_COLUMNS = ['tide_pipeline_name', 'tide_interval_start', 'tide_interval_end', 'tide_rows', 'tide_failed_components', 'tide_params'];

describe("a dataset dlt created", () => {
  it('takes a tide load: the ledger columns are added after dlt\'s, the load is recorded in them', async () => {
    const ds = datasetName('dltmade');
    await createAsDlt(ds);
    expect(await ledgerColumns(ds)).toEqual(DLT_COLUMNS);
    const p = testPipeline({ pipelineName: 'after_dlt', datasetName: ds });
    const info = await p.run(resource(() => [{ id: 1 }, { id: 2 }], { name: 'items' }));
    expect(await ledgerColumns(ds)).toEqual([...DLT_COLUMNS, ...TIDE_COLUMNS]);
    expect(await rows(p, '_dlt_loads', 'load_id', 'load_id, status, tide_pipeline_name, tide_rows')).toEqual([
      { load_id: info.loadId, status: 0, tide_pipeline_name: 'after_dlt', tide_rows: 2 },
    ]);
    await p.close();
  });

  it('a _dlt_loads dlt made again after tide opened the dataset gets the columns inside the load transaction', async () => {
    const ds = datasetName('dltagain');
    const p = testPipeline({ pipelineName: 'again', datasetName: ds });
    await p.run(resource(() => [{ id: 1 }], { name: 'items' }));
    // dlt recreates its ledger (its DDL has none of tide's columns); tide's other tables stay
    await db.query(`DROP TABLE "${ds}"."_dlt_loads"`);
    await db.query(
      `CREATE TABLE "${ds}"."_dlt_loads" ("load_id" varchar NOT NULL, "schema_name" varchar, "status" bigint NOT NULL, "inserted_at" timestamp with time zone NOT NULL, "schema_version_hash" varchar)`,
    );
    const info = await p.run(resource(() => [{ id: 2 }], { name: 'items' }));
    expect(await ledgerColumns(ds)).toEqual([...DLT_COLUMNS, ...TIDE_COLUMNS]);
    expect(await rows(p, '_dlt_loads', 'load_id', 'load_id, tide_pipeline_name, tide_rows')).toEqual([{ load_id: info.loadId, tide_pipeline_name: 'again', tide_rows: 1 }]);
    await p.close();
  });

  it('restores the newest schema row, not the highest version (dlt orders by inserted_at)', async () => {
    const ds = datasetName('newest');
    const p = testPipeline({ pipelineName: 'newest', datasetName: ds });
    await p.run(resource(() => [{ id: 1 }], { name: 'items' }));
    const [row] = await db.query(`SELECT schema_name, schema FROM "${ds}"."_dlt_version"`).then((r) => r.rows);
    // another writer's newer row with a lower version number: one more column, `note`
    const newer = JSON.parse(row.schema);
    newer.tables.items.columns.note = { name: 'note', data_type: 'text', nullable: true };
    await db.query(`UPDATE "${ds}"."_dlt_version" SET version = 7, inserted_at = now() - interval '1 hour'`);
    await db.query(`ALTER TABLE "${ds}".items ADD COLUMN note varchar`);
    await db.query(`INSERT INTO "${ds}"."_dlt_version" VALUES (3, 11, now(), $1, 'newer', $2)`, [row.schema_name, JSON.stringify(newer)]);
    const fresh = testPipeline({ pipelineName: 'newest', datasetName: ds });
    await fresh.syncFromDestination();
    expect(Object.keys(fresh.schema()!.tables.items.columns)).toEqual(['id', '_dlt_load_id', '_dlt_id', 'note']);
    await p.close();
    await fresh.close();
  });
});

describe("dlt's UNIQUE on _dlt_id", () => {
  const uniques = async (ds: string) =>
    (await db.query(`SELECT conrelid::regclass::text AS t, pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE connamespace = $1::regnamespace AND contype = 'u' ORDER BY 1`, [ds])).rows;

  it('is made on root and nested tables with createIndexes, as dlt makes it by default; not without', async () => {
    const items = resource(() => [{ id: 1, tags: ['a', 'b'] }], { name: 'items' });
    const withIndexes = testPipeline({ datasetName: datasetName('uq'), destination: postgres({ connectionString: pgUrl(), createIndexes: true }) });
    await withIndexes.run(items);
    const ds = withIndexes.datasetName;
    expect(await uniques(ds)).toEqual([
      { t: `${ds}._dlt_pipeline_state`, d: 'UNIQUE (_dlt_id)' },
      { t: `${ds}.items`, d: 'UNIQUE (_dlt_id)' },
      { t: `${ds}.items__tags`, d: 'UNIQUE (_dlt_id)' },
    ]);
    const plain = testPipeline({ datasetName: datasetName('nouq') });
    await plain.run(items);
    expect(await uniques(plain.datasetName)).toEqual([{ t: `${plain.datasetName}._dlt_pipeline_state`, d: 'UNIQUE (_dlt_id)' }]);
    await withIndexes.close();
    await plain.close();
  });
});
