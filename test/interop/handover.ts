/**
 * Hand-overs between tide and dlt on one dataset. A scenario is three runs of one resource; after
 * each run the dataset must hold exactly the scenario's rows whichever tool ran it. Chains alternate
 * the tool: tide → dlt → tide with every run in an empty working folder (each restores state and
 * schema from the dataset the other tool wrote), and dlt → tide → dlt with each tool keeping its
 * working folder (each finds the other's newer state in the dataset). After every run:
 * exact rows (with the run that loaded each), exact nested rows, the cursor the next tool restores
 * (`last_value`, `unique_hashes`), and, on tide's dataset, `dlt pipeline <name> info` and
 * `dlt.dataset(...).row_counts()`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { incremental, pipeline, postgres, resource, type WriteDisposition } from 'tide';
import { dedupHash, type DedupHashForm } from '../../pipeline/normalize/hash.ts';
import { decompressState } from '../../pipeline/state.ts';

export interface DltVersion {
  /** As shown in test names and the summary. */
  label: string;
  /** The venv under test/interop/ (made by venvs.sh). */
  venv: string;
  /** What tide is told about the dlt sharing the dataset (undefined: tide's default, the latest dlt). */
  tideDltVersion?: string;
  /** The hash form both tools write in this pairing. */
  hashForm: DedupHashForm;
}

type Row = Record<string, unknown>;

/** The resource of a scenario, in neutral form: dlt_side.py maps it to dlt's hints, `tideResource` to tide's. */
interface Spec {
  resource: string;
  disposition: 'append' | 'replace' | 'merge' | 'scd2';
  primary_key?: string;
  cursor?: string;
  initial_value?: unknown;
}

interface Step {
  items: Row[];
  /** Per table: the exact rows after this run; `run` is the number (1-3) of the run that loaded a root row. */
  tables: Record<string, Row[]>;
  /** The cursor after this run: last value and the dedup keys sitting on it. */
  cursor?: { last_value: unknown; keys: unknown[] };
}

interface Scenario {
  name: string;
  spec: Spec;
  /** Per table: the query of its canonical rows (`$ds` is the dataset). A root table selects `_dlt_load_id`. */
  queries: Record<string, string>;
  steps: [Step, Step, Step];
}

const issue = (id: number, updated_at: number, title: string, labels: string[]) => ({ id, updated_at, title, labels: labels.map((name) => ({ name })) });

const SCENARIOS: Scenario[] = [
  {
    name: 'merge, nested lists, incremental cursor with boundary duplicates',
    spec: { resource: 'issues', disposition: 'merge', primary_key: 'id', cursor: 'updated_at', initial_value: 0 },
    queries: {
      issues: 'SELECT id, updated_at, title, _dlt_load_id FROM $ds.issues ORDER BY id',
      issues__labels:
        'SELECT i.id, l._dlt_list_idx AS idx, l.name, l._dlt_root_id = i._dlt_id AS rooted FROM $ds.issues__labels l LEFT JOIN $ds.issues i ON i._dlt_id = l._dlt_parent_id ORDER BY i.id, l._dlt_list_idx',
    },
    steps: [
      {
        items: [issue(1, 1, 'one', ['a']), issue(2, 2, 'two', ['b', 'c']), issue(3, 3, 'three', []), issue(4, 3, 'four', ['d'])],
        tables: {
          issues: [
            { id: 1, updated_at: 1, title: 'one', run: 1 },
            { id: 2, updated_at: 2, title: 'two', run: 1 },
            { id: 3, updated_at: 3, title: 'three', run: 1 },
            { id: 4, updated_at: 3, title: 'four', run: 1 },
          ],
          issues__labels: [
            { id: 1, idx: 0, name: 'a', rooted: true },
            { id: 2, idx: 0, name: 'b', rooted: true },
            { id: 2, idx: 1, name: 'c', rooted: true },
            { id: 4, idx: 0, name: 'd', rooted: true },
          ],
        },
        cursor: { last_value: 3, keys: [3, 4] },
      },
      {
        // 3 and 4 sit on the stored cursor: dropped; 2 changed; 5 new
        items: [issue(3, 3, 'three', []), issue(4, 3, 'four', ['d']), issue(2, 4, 'two v2', ['x']), issue(5, 4, 'five', ['y', 'z'])],
        tables: {
          issues: [
            { id: 1, updated_at: 1, title: 'one', run: 1 },
            { id: 2, updated_at: 4, title: 'two v2', run: 2 },
            { id: 3, updated_at: 3, title: 'three', run: 1 },
            { id: 4, updated_at: 3, title: 'four', run: 1 },
            { id: 5, updated_at: 4, title: 'five', run: 2 },
          ],
          issues__labels: [
            { id: 1, idx: 0, name: 'a', rooted: true },
            { id: 2, idx: 0, name: 'x', rooted: true },
            { id: 4, idx: 0, name: 'd', rooted: true },
            { id: 5, idx: 0, name: 'y', rooted: true },
            { id: 5, idx: 1, name: 'z', rooted: true },
          ],
        },
        cursor: { last_value: 4, keys: [2, 5] },
      },
      {
        items: [issue(2, 4, 'two v2', ['x']), issue(5, 4, 'five', ['y', 'z']), issue(1, 5, 'one v2', []), issue(6, 5, 'six', ['e'])],
        tables: {
          issues: [
            { id: 1, updated_at: 5, title: 'one v2', run: 3 },
            { id: 2, updated_at: 4, title: 'two v2', run: 2 },
            { id: 3, updated_at: 3, title: 'three', run: 1 },
            { id: 4, updated_at: 3, title: 'four', run: 1 },
            { id: 5, updated_at: 4, title: 'five', run: 2 },
            { id: 6, updated_at: 5, title: 'six', run: 3 },
          ],
          issues__labels: [
            { id: 2, idx: 0, name: 'x', rooted: true },
            { id: 4, idx: 0, name: 'd', rooted: true },
            { id: 5, idx: 0, name: 'y', rooted: true },
            { id: 5, idx: 1, name: 'z', rooted: true },
            { id: 6, idx: 0, name: 'e', rooted: true },
          ],
        },
        cursor: { last_value: 5, keys: [1, 6] },
      },
    ],
  },
  {
    name: 'append, incremental cursor without a key (whole-row hashes) and boundary duplicates',
    spec: { resource: 'events', disposition: 'append', cursor: 'c', initial_value: 0 },
    queries: { events: 'SELECT n, c, _dlt_load_id FROM $ds.events ORDER BY n, _dlt_load_id' },
    steps: [
      {
        items: [{ n: 1, c: 1 }, { n: 2, c: 2 }, { n: 3, c: 2 }],
        tables: { events: [{ n: 1, c: 1, run: 1 }, { n: 2, c: 2, run: 1 }, { n: 3, c: 2, run: 1 }] },
        cursor: { last_value: 2, keys: [{ n: 2, c: 2 }, { n: 3, c: 2 }] },
      },
      {
        items: [{ n: 2, c: 2 }, { n: 3, c: 2 }, { n: 4, c: 3 }],
        tables: { events: [{ n: 1, c: 1, run: 1 }, { n: 2, c: 2, run: 1 }, { n: 3, c: 2, run: 1 }, { n: 4, c: 3, run: 2 }] },
        cursor: { last_value: 3, keys: [{ n: 4, c: 3 }] },
      },
      {
        items: [{ n: 4, c: 3 }, { n: 5, c: 3 }, { n: 6, c: 4 }],
        tables: {
          events: [{ n: 1, c: 1, run: 1 }, { n: 2, c: 2, run: 1 }, { n: 3, c: 2, run: 1 }, { n: 4, c: 3, run: 2 }, { n: 5, c: 3, run: 3 }, { n: 6, c: 4, run: 3 }],
        },
        cursor: { last_value: 4, keys: [{ n: 6, c: 4 }] },
      },
    ],
  },
  {
    name: 'replace with a nested list',
    spec: { resource: 'snapshot', disposition: 'replace' },
    queries: {
      snapshot: 'SELECT id, _dlt_load_id FROM $ds.snapshot ORDER BY id',
      snapshot__tags: 'SELECT s.id, t._dlt_list_idx AS idx, t.value FROM $ds.snapshot__tags t LEFT JOIN $ds.snapshot s ON s._dlt_id = t._dlt_parent_id ORDER BY s.id, t._dlt_list_idx',
    },
    steps: [
      {
        items: [{ id: 1, tags: ['a', 'b'] }, { id: 2, tags: [] }],
        tables: { snapshot: [{ id: 1, run: 1 }, { id: 2, run: 1 }], snapshot__tags: [{ id: 1, idx: 0, value: 'a' }, { id: 1, idx: 1, value: 'b' }] },
      },
      {
        items: [{ id: 3, tags: ['c'] }],
        tables: { snapshot: [{ id: 3, run: 2 }], snapshot__tags: [{ id: 3, idx: 0, value: 'c' }] },
      },
      {
        items: [{ id: 4, tags: [] }, { id: 5, tags: ['d', 'e'] }],
        tables: { snapshot: [{ id: 4, run: 3 }, { id: 5, run: 3 }], snapshot__tags: [{ id: 5, idx: 0, value: 'd' }, { id: 5, idx: 1, value: 'e' }] },
      },
    ],
  },
  {
    name: 'scd2 (row hashes shared: an unchanged row is never retired by the other tool)',
    spec: { resource: 'dim', disposition: 'scd2' },
    queries: { dim: 'SELECT nk, v, _dlt_load_id, _dlt_valid_to IS NULL AS active FROM $ds.dim ORDER BY nk, v' },
    steps: [
      {
        items: [{ nk: 1, v: 'a' }, { nk: 2, v: 'b' }],
        tables: { dim: [{ nk: 1, v: 'a', active: true, run: 1 }, { nk: 2, v: 'b', active: true, run: 1 }] },
      },
      {
        items: [{ nk: 1, v: 'a' }, { nk: 2, v: 'b2' }, { nk: 3, v: 'c' }],
        tables: {
          dim: [
            { nk: 1, v: 'a', active: true, run: 1 },
            { nk: 2, v: 'b', active: false, run: 1 },
            { nk: 2, v: 'b2', active: true, run: 2 },
            { nk: 3, v: 'c', active: true, run: 2 },
          ],
        },
      },
      {
        items: [{ nk: 1, v: 'a2' }, { nk: 3, v: 'c' }],
        tables: {
          dim: [
            { nk: 1, v: 'a', active: false, run: 1 },
            { nk: 1, v: 'a2', active: true, run: 3 },
            { nk: 2, v: 'b', active: false, run: 1 },
            { nk: 2, v: 'b2', active: false, run: 2 },
            { nk: 3, v: 'c', active: true, run: 2 },
          ],
        },
      },
    ],
  },
];

type Tool = 'tide' | 'dlt';
const CHAINS: { tools: Tool[]; keepFolders: boolean }[] = [
  { tools: ['tide', 'dlt', 'tide'], keepFolders: false },
  { tools: ['dlt', 'tide', 'dlt'], keepFolders: true },
];

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** Runs dlt_side.py in the venv; its JSON result (printed after a marker, dlt logs before it). */
function dltSide(version: DltVersion, command: 'run' | 'inspect', env: Record<string, string>, request: unknown): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      join(HERE, version.venv, 'bin', 'python'),
      [join(HERE, 'dlt_side.py'), command],
      { env: { ...process.env, ...env, RUNTIME__LOG_LEVEL: 'WARNING' }, maxBuffer: 64 << 20, timeout: 120_000 },
      (err, stdout, stderr) => {
        const at = stdout.lastIndexOf('@@RESULT@@');
        if (err || at < 0) reject(new Error(`dlt_side.py ${command} failed: ${err?.message ?? ''}\n${stdout}\n${stderr}`));
        else resolve(JSON.parse(stdout.slice(at + '@@RESULT@@'.length)));
      },
    );
    child.stdin!.end(JSON.stringify(request));
  });
}

function tideResource(spec: Spec, items: Row[]) {
  const writeDisposition: WriteDisposition = spec.disposition === 'scd2' ? { disposition: 'merge', strategy: 'scd2' } : spec.disposition;
  return resource(
    function* () {
      yield items;
    },
    {
      name: spec.resource,
      writeDisposition,
      ...(spec.primary_key ? { primaryKey: spec.primary_key } : {}),
      ...(spec.cursor ? { incremental: incremental(spec.cursor, { initialValue: spec.initial_value }) } : {}),
    },
  );
}

interface Chain {
  version: DltVersion;
  pipelineName: string;
  datasetName: string;
  pgUrl: string;
  db: pg.Pool;
  /** Load ids of each run, index = run - 1. */
  loads: string[][];
  /** Each tool's working folder, when runs keep theirs. */
  folders?: Record<Tool, string>;
}

/** The working folder of a run: the tool's own when the chain keeps folders, else a new one. */
function folderOf(c: Chain, tool: Tool): string {
  return c.folders?.[tool] ?? mkdtempSync(join(tmpdir(), `tide-interop-${tool}-`));
}

function dltEnv(c: Chain, folder = folderOf(c, 'dlt')): Record<string, string> {
  return { PG_URL: c.pgUrl, PIPELINE_NAME: c.pipelineName, DATASET: c.datasetName, PIPELINES_DIR: folder };
}

const newFolder = (tool: Tool) => mkdtempSync(join(tmpdir(), `tide-interop-${tool}-`));

async function runTide(c: Chain, s: Scenario, step: Step): Promise<string[]> {
  const p = pipeline({
    pipelineName: c.pipelineName,
    datasetName: c.datasetName,
    destination: postgres(c.pgUrl),
    pipelinesDir: folderOf(c, 'tide'),
    dltVersion: c.version.tideDltVersion,
    warn: () => undefined,
  });
  try {
    const info = await p.run(tideResource(s.spec, step.items));
    return info.loadId ? [info.loadId] : [];
  } finally {
    await p.close();
  }
}

/** The dlt version the venv really holds (the latest moves), as dlt_side.py reports it. */
const dltVersions = new Map<string, string>();

async function runDlt(c: Chain, s: Scenario, step: Step): Promise<string[]> {
  const out = await dltSide(c.version, 'run', dltEnv(c), { spec: s.spec, items: step.items });
  dltVersions.set(c.version.venv, out.dlt_version);
  return out.load_ids;
}

/** The exact rows of each table, `_dlt_load_id` replaced by the number of the run that loaded the row. */
async function tablesNow(c: Chain, s: Scenario): Promise<Record<string, Row[]>> {
  const out: Record<string, Row[]> = {};
  for (const [table, q] of Object.entries(s.queries)) {
    const r = await c.db.query(q.replaceAll('$ds', `"${c.datasetName}"`));
    out[table] = r.rows.map(({ _dlt_load_id, ...row }) => (_dlt_load_id === undefined ? row : { ...row, run: runOf(c, _dlt_load_id) }));
  }
  return out;
}

function runOf(c: Chain, loadId: string): number | string {
  const i = c.loads.findIndex((ids) => ids.includes(loadId));
  return i < 0 ? `unknown load ${loadId}` : i + 1;
}

/** The cursor in the newest state row of the pipeline (what either tool restores). */
async function storedCursor(c: Chain, s: Scenario): Promise<unknown> {
  const r = await c.db.query(`SELECT state FROM "${c.datasetName}"._dlt_pipeline_state WHERE pipeline_name = $1 ORDER BY created_at DESC LIMIT 1`, [c.pipelineName]);
  const state = decompressState(r.rows[0].state) as any;
  return state.sources?.[c.pipelineName]?.resources?.[s.spec.resource]?.incremental?.[s.spec.cursor!];
}

function expectedCursor(c: Chain, s: Scenario, step: Step) {
  const sorted = (x: { last_value: unknown; unique_hashes: string[] }) => ({ ...x, unique_hashes: [...x.unique_hashes].sort() });
  return sorted({ last_value: step.cursor!.last_value, unique_hashes: step.cursor!.keys.map((k) => dedupHash(k, c.version.hashForm)) });
}

const cursorOf = (x: any) => x && { last_value: x.last_value, unique_hashes: [...(x.unique_hashes ?? [])].sort() };

/** What a dlt user sees on tide's dataset: `dlt pipeline info`, `row_counts()`, the restored cursor. */
async function expectDltReads(c: Chain, s: Scenario, step: Step): Promise<void> {
  const seen = await dltSide(c.version, 'inspect', dltEnv(c, newFolder('dlt')), { spec: s.spec });
  expect({ rc: seen.info_rc, names: seen.info_out.includes(`pipeline_name: ${c.pipelineName}`) }).toEqual({ rc: 0, names: true });
  expect(seen.row_counts).toEqual(Object.fromEntries(Object.entries(step.tables).map(([t, rows]) => [t, rows.length])));
  if (step.cursor) expect(cursorOf(seen.cursor)).toEqual(expectedCursor(c, s, step));
}

/** What tide restores from dlt's dataset. */
async function expectTideReads(c: Chain, s: Scenario, step: Step): Promise<void> {
  if (!step.cursor) return;
  const p = pipeline({ pipelineName: c.pipelineName, datasetName: c.datasetName, destination: postgres(c.pgUrl), pipelinesDir: newFolder('tide') });
  try {
    const state = (await p.syncFromDestination()) as any;
    expect(cursorOf(state.sources?.[c.pipelineName]?.resources?.[s.spec.resource]?.incremental?.[s.spec.cursor!])).toEqual(expectedCursor(c, s, step));
  } finally {
    await p.close();
  }
}

/** bigint columns read as numbers (the scenarios' values are small). */
function bigintAsNumber(oid: number, format?: string): (v: string) => unknown {
  return oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text');
}

/** One line per run of a hand-over: which tool ran, what it loaded, the rows of each table after it. */
function summaryLine(label: string, s: Scenario, tools: Tool[], run: number, loaded: string[], tables: Record<string, Row[]>, cursor?: unknown): string {
  const counts = Object.entries(tables).map(([t, rows]) => `${t} ${rows.length}`).join(', ');
  const c = cursor as { last_value?: unknown; unique_hashes?: string[] } | undefined;
  const cur = c ? `; cursor last_value ${JSON.stringify(c.last_value)}, ${c.unique_hashes?.length ?? 0} hash(es) of ${c.unique_hashes?.[0]?.length ?? '-'} chars` : '';
  return `dlt ${label} | ${s.spec.resource} | ${tools.join(' → ')} | run ${run} (${tools[run - 1]}, ${loaded.length} load) | ${counts}${cur}`;
}

export function handoverSuite(version: DltVersion): void {
  const { label } = version;
  const pools: pg.Pool[] = [];
  const summary: string[] = [];
  afterAll(async () => {
    for (const p of pools) await p.end();
    // the figures of each hand-over, for the record (exact rows are asserted above)
    process.stdout.write(`\nhand-overs with dlt ${label} (${dltVersions.get(version.venv)}):\n${summary.join('\n')}\n`);
  });

  describe(`hand-over tide ⇄ dlt ${label}`, () => {
    for (const s of SCENARIOS) {
      for (const { tools, keepFolders } of CHAINS) {
        it(`${s.name}: ${tools.join(' → ')} (${keepFolders ? 'each tool keeps its working folder' : 'empty working folders'})`, async () => {
          // dlt refuses a Postgres URL without a password; the test server trusts any
          const pgUrl = inject('pgUrl').replace(/^postgres:\/\/([^:@/]+)@/, 'postgres://$1:interop@');
          const db = new pg.Pool({ connectionString: pgUrl, max: 2, types: { getTypeParser: bigintAsNumber } as pg.CustomTypesConfig });
          pools.push(db);
          const name = `interop_${randomBytes(4).toString('hex')}`;
          const c: Chain = { version, pipelineName: name, datasetName: `${name}_data`, pgUrl, db, loads: [] };
          if (keepFolders) c.folders = { tide: newFolder('tide'), dlt: newFolder('dlt') };
          for (let i = 0; i < 3; i++) {
            const step = s.steps[i];
            const tool = tools[i];
            c.loads.push(tool === 'tide' ? await runTide(c, s, step) : await runDlt(c, s, step));
            const at = `run ${i + 1} (${tool})`;
            const tables = await tablesNow(c, s);
            const cursor = step.cursor ? cursorOf(await storedCursor(c, s)) : undefined;
            summary.push(summaryLine(version.label, s, tools, i + 1, c.loads[i], tables, cursor));
            expect({ at, tables }).toEqual({ at, tables: step.tables });
            if (step.cursor) expect({ at, cursor }).toEqual({ at, cursor: expectedCursor(c, s, step) });
            if (tool === 'tide') await expectDltReads(c, s, step);
            else await expectTideReads(c, s, step);
          }
        });
      }
    }
  });
}
