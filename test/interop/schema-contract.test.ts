/**
 * Schema contracts against dlt 1.26.0 itself: schema_contract_dlt.py runs each case (two runs: the
 * first creates `items`, the second brings new columns, variants and tables under a contract set on
 * the resource, the source or the run) and prints its inputs and what dlt did; the same inputs go
 * through tide here. Compared: whether each run failed and, when it did, on which entity, table and
 * column; the rows of every table (without `_dlt_*` columns, nulls left out as dlt's jsonl does);
 * and the columns of every table.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resource, source, DataContractViolation, type Pipeline, type SchemaContract } from 'tide';
import { testPipeline } from '../helpers/pipelines.ts';
import { tablesOf } from '../helpers/state-db.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));

interface CaseInput {
  first_contract: SchemaContract | null;
  second_contract: SchemaContract | null;
  where: 'resource' | 'source' | 'run';
  first: Record<string, unknown>[];
  second: Record<string, unknown>[];
  with_other: boolean;
}
interface Outcome {
  first: string;
  second: string;
  tables: Record<string, Record<string, unknown>[]>;
  columns: Record<string, string[]> | null;
}
interface Case {
  case: string;
  input: CaseInput;
  dlt: Outcome;
}

function dltCases(): Promise<Case[]> {
  return new Promise((resolve, reject) => {
    execFile(
      join(HERE, '.venv-1.26.0', 'bin', 'python'),
      [join(HERE, 'schema_contract_dlt.py')],
      { env: { ...process.env, RUNTIME__LOG_LEVEL: 'WARNING' }, maxBuffer: 16 << 20, timeout: 300_000 },
      (err, stdout, stderr) => {
        const at = stdout.lastIndexOf('@@RESULT@@');
        if (err || at < 0) reject(new Error(`schema_contract_dlt.py failed: ${err?.message ?? ''}\n${stdout}\n${stderr}`));
        else resolve(stdout.slice(at + '@@RESULT@@'.length).trim().split('\n').map((l) => JSON.parse(l) as Case));
      },
    );
  });
}

/** One run of `data` (and a one-row `other` resource) with `contract` set where the case says. */
function runOnce(p: Pipeline, input: CaseInput, data: unknown[], contract: SchemaContract | null, other: boolean) {
  const onResource = input.where === 'resource' && contract !== null ? { schemaContract: contract } : {};
  const resources = [resource(data, { name: 'items', ...onResource })];
  if (other) resources.push(resource([{ k: 1 }], { name: 'other', ...onResource }));
  const src = source('src', resources, input.where === 'source' && contract !== null ? { schemaContract: contract } : {});
  return p.run(src, input.where === 'run' && contract !== null ? { schemaContract: contract } : {});
}

/** `ok`, or the entity, table and column a run failed on (dlt names a variant column, tide its column: compared as the column). */
type Verdict = 'ok' | { entity: string; table: string; column: string | null };

function dltVerdict(outcome: string): Verdict {
  if (outcome === 'ok') return 'ok';
  const m = /In Table: `(\w+)`\s*(?:Column: `(\w+)`)?\s*\. Contract on `(\w+)`/.exec(outcome);
  if (!m) throw new Error(`unexpected dlt outcome: ${outcome}`);
  return { entity: m[3], table: m[1], column: m[2] ? m[2].replace(/__v_\w+$/, '') : null };
}

async function tideVerdict(run: Promise<unknown>): Promise<Verdict> {
  try {
    await run;
    return 'ok';
  } catch (e) {
    if (!(e instanceof DataContractViolation)) throw e;
    return { entity: e.entity, table: e.table!, column: e.column ?? null };
  }
}

/** Rows of every user table, `_dlt_*` columns and nulls left out, sorted (dlt's file order is not the point). */
async function tideTables(p: Pipeline): Promise<Record<string, Record<string, unknown>[]>> {
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const t of (await tablesOf(p)).filter((x) => !x.startsWith('_dlt'))) {
    const rows = await p.query(`SELECT * FROM "${p.datasetName}"."${t}"`);
    out[t] = rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k, v]) => !k.startsWith('_dlt') && v !== null)));
  }
  return out;
}

/** Each table's rows as JSON with sorted keys, sorted: compared as sets of rows. */
const sorted = (tables: Record<string, Record<string, unknown>[]>) =>
  Object.fromEntries(Object.entries(tables).map(([t, rows]) => [t, rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).sort()))).sort()]));

async function tideColumns(p: Pipeline): Promise<Record<string, string[]>> {
  const r = await p.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name NOT LIKE '\\_dlt%' AND column_name NOT LIKE '\\_dlt%' ORDER BY table_name, ordinal_position`,
    [p.datasetName],
  );
  const out: Record<string, string[]> = {};
  for (const x of r) (out[x.table_name] ??= []).push(x.column_name);
  return out;
}

describe('schema contracts: tide and dlt 1.26.0 on the same inputs', () => {
  it('fail, load and evolve the schema alike in every case', async () => {
    const cases = await dltCases();
    expect(cases.length).toBeGreaterThanOrEqual(16);
    for (const c of cases) {
      const p = testPipeline({ pipelineName: `contract_${c.case}` });
      const first = await tideVerdict(runOnce(p, c.input, c.input.first, c.input.first_contract, false));
      const second = await tideVerdict(runOnce(p, c.input, c.input.second, c.input.second_contract, c.input.with_other));
      const dltColumns = Object.fromEntries(Object.entries(c.dlt.columns ?? {}).filter(([, cols]) => cols.length > 0));
      expect({ case: c.case, first, second, tables: sorted(await tideTables(p)), columns: await tideColumns(p) }).toEqual({
        case: c.case,
        first: dltVerdict(c.dlt.first),
        second: dltVerdict(c.dlt.second),
        tables: sorted(c.dlt.tables),
        columns: dltColumns,
      });
    }
  });
});
