/**
 * The DDL of sql.ts and the advisory lock keys of transaction.ts: their exact text (other tide
 * versions create the same tables and take the same locks on the same datasets), then run against
 * Postgres.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ColumnSchema, TableSchema } from 'tide';
import {
  addColumnsSql,
  addLoadColumnsSql,
  createDatasetSql,
  createIndexSql,
  createLoadTableSql,
  createTableSql,
  dropDatasetSql,
  dropTablesSql,
  qualified,
  truncateSql,
} from '../../destinations/postgres/sql.ts';
import { datasetLock, LOCK_SQL, packageLock, stateLock, tableLock, Tx } from '../../destinations/postgres/transaction.ts';
import { datasetName, pgUrl } from '../helpers/pipelines.ts';

const ds = datasetName('sql');
const Q = `"${ds}"`;
let pool: pg.Pool;

beforeAll(() => {
  pool = new pg.Pool({ connectionString: pgUrl(), max: 3 });
});
afterAll(async () => {
  for (const s of dropDatasetSql(ds)) await pool.query(s);
  await pool.end();
});

const id: ColumnSchema = { name: 'id', dataType: 'bigint', nullable: false, primaryKey: true };
const amount: ColumnSchema = { name: 'amount', dataType: 'decimal', nullable: true, precision: 10, scale: 2 };
const validTo: ColumnSchema = { name: '_dlt_valid_to', dataType: 'timestamp', nullable: true, x_valid_to: true };
const note: ColumnSchema = { name: 'we"ird', dataType: 'text', nullable: false };
const table: TableSchema = { name: 'items', columns: { id, _dlt_valid_to: validTo, amount } };

describe('sql.ts DDL', () => {
  it('creates the dataset: schemas and bookkeeping tables, as tide always wrote them (and the ledger columns of a dlt-made _dlt_loads)', async () => {
    expect(createDatasetSql(ds)).toEqual([
      `CREATE SCHEMA IF NOT EXISTS ${Q}`,
      `CREATE TABLE IF NOT EXISTS ${Q}."_dlt_loads" ("load_id" varchar NOT NULL, "schema_name" varchar, "status" bigint NOT NULL, "inserted_at" timestamp with time zone NOT NULL, "schema_version_hash" varchar, "tide_pipeline_name" varchar, "tide_interval_start" timestamp with time zone, "tide_interval_end" timestamp with time zone, "tide_rows" bigint, "tide_failed_components" varchar, "tide_params" jsonb)`,
      `ALTER TABLE ${Q}."_dlt_loads" ADD COLUMN IF NOT EXISTS "tide_pipeline_name" varchar, ADD COLUMN IF NOT EXISTS "tide_interval_start" timestamp with time zone, ADD COLUMN IF NOT EXISTS "tide_interval_end" timestamp with time zone, ADD COLUMN IF NOT EXISTS "tide_rows" bigint, ADD COLUMN IF NOT EXISTS "tide_failed_components" varchar, ADD COLUMN IF NOT EXISTS "tide_params" jsonb`,
      `CREATE UNIQUE INDEX IF NOT EXISTS "_dlt_loads_load_id" ON ${Q}."_dlt_loads" (load_id)`,
      `CREATE TABLE IF NOT EXISTS ${Q}."_dlt_pipeline_state" ("version" bigint NOT NULL, "engine_version" bigint NOT NULL, "pipeline_name" varchar NOT NULL, "state" varchar NOT NULL, "created_at" timestamp with time zone NOT NULL, "version_hash" varchar, "_dlt_load_id" varchar NOT NULL, "_dlt_id" varchar NOT NULL UNIQUE)`,
      `CREATE TABLE IF NOT EXISTS ${Q}."_dlt_version" ("version" bigint NOT NULL, "engine_version" bigint NOT NULL, "inserted_at" timestamp with time zone NOT NULL, "schema_name" varchar NOT NULL, "version_hash" varchar NOT NULL, "schema" varchar NOT NULL)`,
      `CREATE SCHEMA IF NOT EXISTS "${ds}_staging"`,
      `CREATE UNLOGGED TABLE IF NOT EXISTS "${ds}_staging"."_tide_packages" ("load_id" varchar PRIMARY KEY, "pipeline_name" varchar NOT NULL, "created_at" timestamp with time zone NOT NULL, "package" text NOT NULL)`,
    ]);
    for (const s of [...createDatasetSql(ds), ...createDatasetSql(ds)]) await pool.query(s);
    const cols = await pool.query(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = '_tide_packages' ORDER BY ordinal_position`,
      [`${ds}_staging`],
    );
    expect(cols.rows.map((r) => `${r.column_name} ${r.data_type} ${r.is_nullable}`)).toEqual([
      'load_id character varying NO',
      'pipeline_name character varying NO',
      'created_at timestamp with time zone NO',
      'package text NO',
    ]);
  });

  it("UNIQUE on columns with the unique hint only when asked for (dlt's create_indexes), in CREATE and ADD COLUMN", () => {
    const rowKey: ColumnSchema = { name: '_dlt_id', dataType: 'text', nullable: false, unique: true, rowKey: true };
    const t: TableSchema = { name: 'keyed', columns: { id, _dlt_id: rowKey } };
    expect(createTableSql(ds, t, [id, rowKey], true)).toBe(`CREATE TABLE IF NOT EXISTS ${Q}."keyed" ("id" bigint NOT NULL, "_dlt_id" varchar UNIQUE NOT NULL)`);
    expect(createTableSql(ds, t, [id, rowKey])).toBe(`CREATE TABLE IF NOT EXISTS ${Q}."keyed" ("id" bigint NOT NULL, "_dlt_id" varchar NOT NULL)`);
    expect(addColumnsSql(ds, 'keyed', [rowKey], true)).toBe(`ALTER TABLE ${Q}."keyed" ADD COLUMN IF NOT EXISTS "_dlt_id" varchar UNIQUE`);
  });

  it('data tables: NOT NULL only in the final CREATE, scd2 validity columns last, names quoted', async () => {
    expect(createTableSql(ds, table, [id, validTo, amount, note])).toBe(
      `CREATE TABLE IF NOT EXISTS ${Q}."items" ("id" bigint NOT NULL, "amount" numeric(10,2), "we""ird" varchar NOT NULL, "_dlt_valid_to" timestamp with time zone)`,
    );
    expect(addColumnsSql(ds, 'items', [note])).toBe(`ALTER TABLE ${Q}."items" ADD COLUMN IF NOT EXISTS "we""ird" varchar`);
    await pool.query(createTableSql(ds, table, [id, validTo, amount]));
    await pool.query(addColumnsSql(ds, 'items', [note]));
    await pool.query(addColumnsSql(ds, 'items', [note]));
    await pool.query(`INSERT INTO ${qualified(ds, 'items')} (id) VALUES (1)`);
    await expect(pool.query(`INSERT INTO ${qualified(ds, 'items')} (amount) VALUES (1)`)).rejects.toThrow(/null value/);
  });

  it('tables of one load: TEMP ones drop with the transaction; staging ones are unlogged tables', async () => {
    expect(createLoadTableSql('"tide_stg_0"', [id, note], true)).toBe('CREATE TEMP TABLE "tide_stg_0" ("id" bigint, "we""ird" varchar) ON COMMIT DROP');
    expect(createLoadTableSql(qualified(`${ds}_staging`, 'l1_0'), [id], false)).toBe(`CREATE UNLOGGED TABLE "${ds}_staging"."l1_0" ("id" bigint)`);
    expect(addLoadColumnsSql('"tide_stg_0"', [amount])).toBe('ALTER TABLE "tide_stg_0" ADD COLUMN "amount" numeric(10,2)');
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(createLoadTableSql('"tide_stg_0"', [id, note], true));
      await c.query(addLoadColumnsSql('"tide_stg_0"', [amount]));
      await c.query('INSERT INTO "tide_stg_0" (amount) VALUES (1.5)');
      await c.query('COMMIT');
      expect((await c.query(`SELECT to_regclass('pg_temp.tide_stg_0') AS t`)).rows[0].t).toBeNull();
    } finally {
      c.release();
    }
  });

  it('indexes, truncate and drops', async () => {
    const idx = createIndexSql(ds, 'items', 'items__tide_pk', ['id'], true);
    expect(idx.sql).toBe(`create unique index if not exists "items__tide_pk" on ${Q}."items" ("id")`);
    expect(truncateSql([qualified(ds, 'items')])).toBe(`TRUNCATE ${Q}."items"`);
    expect(dropTablesSql([qualified(ds, 'a'), qualified(ds, 'b')], true)).toBe(`DROP TABLE IF EXISTS ${Q}."a", ${Q}."b" CASCADE`);
    expect(dropTablesSql(['"x"'], false)).toBe('DROP TABLE IF EXISTS "x"');
    expect(dropDatasetSql(ds)).toEqual([`DROP SCHEMA IF EXISTS ${Q} CASCADE`, `DROP SCHEMA IF EXISTS "${ds}_staging" CASCADE`]);
    await pool.query(idx.sql);
    await pool.query(truncateSql([qualified(ds, 'items')]));
    await pool.query(dropTablesSql([qualified(ds, 'items'), qualified(ds, 'gone')], true));
  });
});

describe('advisory locks', () => {
  it('keys are the texts every tide version takes', () => {
    expect(tableLock('ds', 'items')).toBe('tide:table:ds.items');
    expect(stateLock('ds', 'pipe')).toBe('tide:state:ds:pipe');
    expect(packageLock('ds', '1700000000.123456')).toBe('tide:package:ds:1700000000.123456');
    expect(datasetLock('ds')).toBe('tide:dataset:ds');
    expect(LOCK_SQL).toBe('SELECT pg_advisory_xact_lock(hashtext($1))');
  });

  it('Tx.lock holds the key until the transaction ends; a second transaction waits for it', async () => {
    const key = tableLock(ds, 'locked');
    const held = async () => {
      const r = await pool.query(
        // a bigint advisory key shows as classid (high 32 bits) and objid (low 32 bits), objsubid 1
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND objid::bigint = (hashtext($1)::bigint & 4294967295) AND classid::bigint = ((hashtext($1)::bigint >> 32) & 4294967295)`,
        [key],
      );
      return r.rows[0].n as number;
    };
    const a = await Tx.begin(pool, ds);
    await a.lock(key);
    expect(await held()).toBe(1);
    const b = await Tx.begin(pool, ds);
    let bHasIt = false;
    const waiting = b.lock(key).then(() => (bHasIt = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(bHasIt).toBe(false);
    await a.commit();
    await waiting;
    expect(bHasIt).toBe(true);
    await b.rollback();
    expect(await held()).toBe(0);
  });
});
