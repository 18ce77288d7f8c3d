/**
 * The bookkeeping rows of a dataset: pipeline state (`_dlt_pipeline_state`), stored schema versions
 * (`_dlt_version`) and the ledger of committed loads (`_dlt_loads`), read and written here only.
 */
import type { LoadRecord, OutcomeStreak, RunOutcome, StateCommit } from '../../pipeline/destination.ts';
import type { RunLogKey, RunLogLine, StoredRunLogLine } from '../../pipeline/run-log.ts';
import type { Schema } from '../../pipeline/schema.ts';
import { LOADS_TABLE, STATE_TABLE, VERSION_TABLE } from '../../pipeline/schema.ts';
import { fromStoredSchema, toStoredSchema } from '../../pipeline/schema-store.ts';
import { SCHEMA_ENGINE_VERSION } from '../../pipeline/schema-dlt.ts';
import { compressState, decompressState, mergeConcurrentState, STATE_ENGINE_VERSION, type PipelineState } from '../../pipeline/state.ts';
import { uniqueId } from '../../pipeline/normalize/hash.ts';
import { stateLock, type Queryable, type Tx } from './transaction.ts';
import { addLedgerColumnsSql, ident, LEDGER_COLUMNS, qualified, stagingSchemaOf } from './sql.ts';


/** The newest state of `pipeline` whose load completed: a state row counts only once its `_dlt_loads` row exists. */
export async function latestState(db: Queryable, ds: string, pipeline: string): Promise<PipelineState | undefined> {
  const r = await db.q(
    `SELECT s.state FROM ${qualified(ds, STATE_TABLE)} s JOIN ${qualified(ds, LOADS_TABLE)} l ON l.load_id = s._dlt_load_id
       WHERE s.pipeline_name = $1 AND l.status = 0 ORDER BY s.version DESC, s._dlt_load_id DESC LIMIT 1`,
    [pipeline],
  );
  return r.rows[0] ? decompressState(r.rows[0].state) : undefined;
}

/**
 * The newest stored schema row, as dlt picks it: by time, not by version (dlt and tide number their
 * versions each on their own, so the highest number may be an older row).
 */
export async function latestSchema(db: Queryable, ds: string, schemaName: string): Promise<Schema | undefined> {
  const r = await db.q(`SELECT schema FROM ${qualified(ds, VERSION_TABLE)} WHERE schema_name = $1 ORDER BY inserted_at DESC, version DESC LIMIT 1`, [
    schemaName,
  ]);
  return r.rows[0] ? fromStoredSchema(JSON.parse(r.rows[0].schema)) : undefined;
}

/**
 * Writes the state of a load under the pipeline's state lock, laid over the state another run of the
 * pipeline committed since this one read it.
 */
export async function writeState(tx: Tx, pipeline: string, loadId: string, commit: StateCommit): Promise<void> {
  await tx.lock(stateLock(tx.ds, pipeline));
  const latest = await latestState(tx, tx.ds, pipeline);
  const state = mergeConcurrentState(latest, commit.base, commit.draft, commit.sourceName, commit.touched);
  await tx.q(
    `INSERT INTO ${qualified(tx.ds, STATE_TABLE)} (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id) VALUES ($1, $2, $3, $4, now(), $5, $6, $7)`,
    [state._state_version, STATE_ENGINE_VERSION, pipeline, compressState(state), state._version_hash ?? null, loadId, uniqueId()],
  );
}

/** Stores `schema` as its next version. */
export async function writeSchemaVersion(tx: Tx, schema: Schema, versionHash: string): Promise<void> {
  const v = await tx.q(`SELECT coalesce(max(version), 0) + 1 AS v FROM ${qualified(tx.ds, VERSION_TABLE)} WHERE schema_name = $1`, [schema.name]);
  const version = Number(v.rows[0].v);
  await tx.q(
    `INSERT INTO ${qualified(tx.ds, VERSION_TABLE)} (version, engine_version, inserted_at, schema_name, version_hash, schema) VALUES ($1, ${SCHEMA_ENGINE_VERSION}, now(), $2, $3, $4)`,
    [version, schema.name, versionHash, JSON.stringify(toStoredSchema(schema, version))],
  );
}

/** A committed load as the ledger records it. */
export interface LedgerEntry {
  loadId: string;
  pipeline: string;
  schemaName: string;
  schemaVersionHash: string;
  interval?: { start: string; end: string };
  rows: number;
  failedComponents?: string[];
  params?: Record<string, unknown>;
}

/** The `_dlt_loads` row of a load: written last, it is what makes the load (and its state row) count. */
export async function writeLoad(tx: Tx, e: LedgerEntry): Promise<void> {
  await ensureLedgerColumns(tx);
  await tx.q(
    `INSERT INTO ${qualified(tx.ds, LOADS_TABLE)} (load_id, schema_name, status, inserted_at, schema_version_hash, tide_pipeline_name, tide_interval_start, tide_interval_end, tide_rows, tide_failed_components, tide_params) VALUES ($1, $2, 0, now(), $3, $4, $5, $6, $7, $8, $9)`,
    [e.loadId, e.schemaName, e.schemaVersionHash, e.pipeline, e.interval?.start ?? null, e.interval?.end ?? null, e.rows, e.failedComponents?.length ? e.failedComponents.join(',') : null, e.params && Object.keys(e.params).length ? JSON.stringify(e.params) : null],
  );
}

/**
 * A `_dlt_loads` that dlt made (or made again) after tide opened the dataset lacks the ledger columns:
 * they are added in the load transaction, so a failed load leaves dlt's table as it was.
 */
async function ensureLedgerColumns(tx: Tx): Promise<void> {
  const loads = tx.final.get(LOADS_TABLE);
  if (loads && LEDGER_COLUMNS.every(([name]) => loads.columns.has(name))) return;
  await tx.q(addLedgerColumnsSql(tx.ds));
  for (const [name] of LEDGER_COLUMNS) loads?.columns.add(name);
}

/** Whether a load id is in the ledger (its load committed). */
export async function isLoaded(db: Queryable, ds: string, loadId: string): Promise<boolean> {
  const r = await db.q(`SELECT 1 FROM ${qualified(ds, LOADS_TABLE)} WHERE load_id = $1`, [loadId]);
  return (r.rowCount ?? 0) > 0;
}

interface LedgerRow {
  load_id: string;
  inserted_at: Date;
  tide_rows: number | string | null;
  tide_interval_start: Date | null;
  tide_interval_end: Date | null;
  tide_failed_components: string | null;
  /** jsonb: parsed by the driver */
  tide_params: Record<string, unknown> | null;
}

/** The newest `limit` loads of `pipeline`, newest first. */
export async function recentLoads(db: Queryable, ds: string, pipeline: string, limit: number): Promise<LoadRecord[]> {
  const r = await db.q(
    `SELECT load_id, inserted_at, tide_rows, tide_interval_start, tide_interval_end, tide_failed_components, tide_params FROM ${qualified(ds, LOADS_TABLE)} WHERE tide_pipeline_name = $1 ORDER BY load_id DESC LIMIT $2`,
    [pipeline, limit],
  );
  return r.rows.map(toLoadRecord);
}

function toLoadRecord(x: LedgerRow): LoadRecord {
  return {
    loadId: x.load_id,
    insertedAt: x.inserted_at,
    // bigint: a string unless the pool parses it
    rows: x.tide_rows === null ? null : Number(x.tide_rows),
    ...(x.tide_interval_start && x.tide_interval_end ? { interval: { start: x.tide_interval_start, end: x.tide_interval_end } } : {}),
    ...(x.tide_failed_components ? { failedComponents: x.tide_failed_components.split(',') } : {}),
    ...(x.tide_params ? { params: x.tide_params } : {}),
  };
}

/**
 * The committed loads of `pipeline` whose data interval meets `[from, to)`, oldest first: what a
 * range of intervals has in the ledger.
 */
export async function intervalLoads(db: Queryable, ds: string, pipeline: string, from: string, to: string): Promise<LoadRecord[]> {
  const r = await db.q(
    `SELECT load_id, inserted_at, tide_rows, tide_interval_start, tide_interval_end, tide_failed_components, tide_params FROM ${qualified(ds, LOADS_TABLE)}
      WHERE tide_pipeline_name = $1 AND status = 0 AND tide_interval_start < $3 AND tide_interval_end > $2 ORDER BY load_id`,
    [pipeline, from, to],
  );
  return r.rows.map(toLoadRecord);
}

/**
 * tide's own bookkeeping tables in the staging schema (notifications, run outcomes, run log lines):
 * each made on its first write, each read as empty before it exists.
 */
const BOOKKEEPING_DDL = {
  _tide_notified: '(key varchar PRIMARY KEY, notified_at timestamp with time zone NOT NULL DEFAULT now())',
  _tide_run_outcomes: '(seq bigserial, key varchar PRIMARY KEY, pipeline_name varchar NOT NULL, outcome varchar NOT NULL, recorded_at timestamp with time zone NOT NULL DEFAULT now())',
  _tide_run_log: `(id bigserial PRIMARY KEY, pipeline_name varchar NOT NULL, workflow_id varchar NOT NULL, run_id varchar NOT NULL,
       load_id varchar, step varchar NOT NULL, attempt integer NOT NULL, at timestamp with time zone NOT NULL, level varchar NOT NULL, message text NOT NULL)`,
} as const;
type BookkeepingTable = keyof typeof BOOKKEEPING_DDL;

/** The bookkeeping table, created (with the staging schema) when missing: for writers. */
async function bookkeeping(db: Queryable, ds: string, table: BookkeepingTable): Promise<string> {
  const t = qualified(stagingSchemaOf(ds), table);
  await db.q(`CREATE SCHEMA IF NOT EXISTS ${ident(stagingSchemaOf(ds))}`);
  await db.q(`CREATE TABLE IF NOT EXISTS ${t} ${BOOKKEEPING_DDL[table]}`);
  return t;
}

/** The bookkeeping table, or undefined while no write has made it: for readers. */
async function existingBookkeeping(db: Queryable, ds: string, table: BookkeepingTable): Promise<string | undefined> {
  const t = qualified(stagingSchemaOf(ds), table);
  return (await db.q('SELECT to_regclass($1) IS NOT NULL AS e', [t])).rows[0].e ? t : undefined;
}

/**
 * Delivered notifications, by idempotency key (`<workflow id>/<run id>/<event>:<channel>`): a notify
 * activity retried after a delivery does not deliver again. In the staging schema, tide's own.
 */
export async function wasNotified(db: Queryable, ds: string, key: string): Promise<boolean> {
  const t = await existingBookkeeping(db, ds, '_tide_notified');
  if (!t) return false;
  return ((await db.q(`SELECT 1 FROM ${t} WHERE key = $1`, [key])).rowCount ?? 0) > 0;
}

export async function markNotified(db: Queryable, ds: string, key: string): Promise<void> {
  const t = await bookkeeping(db, ds, '_tide_notified');
  await db.q(`INSERT INTO ${t} (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, [key]);
}

/**
 * The outcome of each finished run of a pipeline, by run key (`<workflow id>/<run id>`), in the order
 * recorded: what `pauseOnFailure` and the `recovered` event count. In the staging schema, tide's own.
 */
/**
 * Records a run's outcome (once: a retried record keeps the first) and reads, as of that record, the
 * failed runs in a row ending with it and the outcome recorded just before it.
 */
export async function recordOutcome(db: Queryable, ds: string, pipeline: string, key: string, outcome: RunOutcome): Promise<OutcomeStreak> {
  const t = await bookkeeping(db, ds, '_tide_run_outcomes');
  await db.q(`INSERT INTO ${t} (key, pipeline_name, outcome) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`, [key, pipeline, outcome]);
  // the failed runs recorded after the last success before this one
  const r = await db.q(
    `WITH me AS (SELECT seq, outcome FROM ${t} WHERE key = $1)
     SELECT me.outcome,
            (SELECT o.outcome FROM ${t} o WHERE o.pipeline_name = $2 AND o.seq < me.seq ORDER BY o.seq DESC LIMIT 1) AS previous,
            (SELECT count(*) FROM ${t} o WHERE o.pipeline_name = $2 AND o.outcome = 'failure' AND o.seq < me.seq
               AND o.seq > coalesce((SELECT max(s.seq) FROM ${t} s WHERE s.pipeline_name = $2 AND s.outcome = 'success' AND s.seq < me.seq), 0))::int AS before
       FROM me`,
    [key, pipeline],
  );
  const row = r.rows[0] as { outcome: RunOutcome; previous: RunOutcome | null; before: number };
  return { consecutiveFailures: row.outcome === 'failure' ? row.before + 1 : 0, failuresBefore: row.before, ...(row.previous ? { previous: row.previous } : {}) };
}

/**
 * Run log lines (pipeline/run-log.ts), one row each, written after each attempt of a run's steps by
 * whichever worker ran it. In the staging schema, tide's own, next to `_tide_notified`.
 */
export async function appendRunLog(db: Queryable, ds: string, key: RunLogKey, lines: RunLogLine[]): Promise<void> {
  if (!lines.length) return;
  const t = await bookkeeping(db, ds, '_tide_run_log');
  await db.q(
    `INSERT INTO ${t} (pipeline_name, workflow_id, run_id, load_id, step, attempt, at, level, message)
       SELECT $1, $2, $3, $4, * FROM unnest($5::varchar[], $6::integer[], $7::timestamptz[], $8::varchar[], $9::text[])`,
    [key.pipelineName, key.workflowId, key.runId, key.loadId ?? null, lines.map((l) => l.step), lines.map((l) => l.attempt), lines.map((l) => l.at), lines.map((l) => l.level), lines.map((l) => l.message)],
  );
}

export async function runLog(db: Queryable, ds: string, pipeline: string, run: string): Promise<StoredRunLogLine[]> {
  const t = await existingBookkeeping(db, ds, '_tide_run_log');
  if (!t) return [];
  const r = await db.q(
    `SELECT pipeline_name, workflow_id, run_id, load_id, step, attempt, at, level, message FROM ${t}
      WHERE pipeline_name = $1 AND (run_id = $2 OR workflow_id = $2 OR load_id = $2) ORDER BY at, id`,
    [pipeline, run],
  );
  return r.rows.map((x) => ({
    pipelineName: x.pipeline_name, workflowId: x.workflow_id, runId: x.run_id, loadId: x.load_id,
    step: x.step, attempt: x.attempt, at: x.at, level: x.level, message: x.message,
  }));
}
