/**
 * Randomized faults at every boundary of a run (issue 16, items 1 and 2). Each fault is one of:
 *
 * - `sigkill`: the worker process running the run's activity is SIGKILLed; the server notices at the
 *   activity's heartbeat timeout (2 s in test/reliability/fault-pipelines.ts) and retries the attempt
 *   on another worker. Nothing is failed or reset by the test.
 * - `pg-stop`: Postgres (fsync, synchronous_commit, full_page_writes on) is stopped with
 *   `pg_ctl stop -m immediate` and started again after a pause.
 * - `net-drop` / `net-stall`: the TCP proxy between the workers and Postgres resets every connection,
 *   or goes silent for a while before resetting them.
 * - `temporal-restart`: the Temporal dev server (SQLite file) is SIGKILLed during a parallel backfill
 *   and started again on the same port.
 *
 * Each is aimed at a boundary read from `pg_stat_activity` just before the fault: `activity` (an activity
 * of the run is running, no write in progress), `copy` (a COPY into staging or a table is running),
 * `tx-writes` (the load transaction has written rows), `commit` (the COMMIT is in flight: held by a
 * synchronous standby that never answers, flushed locally but not acknowledged). A fault counts only
 * if it landed where it was aimed and the run's history shows an activity attempt retried after it
 * (after a failure of the fault's kind; a backfill's: a load writing when the server died); a fault
 * that hit nothing is not counted and the next one is drawn.
 *
 * Lanes (`FAULT_LANES`, each on its own Postgres and proxy; Temporal and the workers are shared) run
 * their faults at once, so that the waits of recoveries overlap.
 *
 * After each recovery: exact rows, exact incremental state (equal to an undisturbed reference run's),
 * scd2 validity without gaps or overlaps, one `_dlt_loads` row per run or interval, staging empty, no
 * package left. `RELIABILITY_FAULTS` (default 100) sets how many; the plan comes from
 * `RELIABILITY_SEED` (printed) through fast-check, so a failing seed replays the same plan.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { pipeline, postgres, type Pipeline, type PipelineDefinition } from 'tide';
import { datasetName, tempDir } from '../helpers/pipelines.ts';
import { taskQueue } from '../helpers/temporal.ts';
import { restorableState } from '../helpers/state-db.ts';
import { sleep } from '../helpers/reliability-db.ts';
import { pendingActivities } from '../helpers/reliability-worker.ts';
import { boundaryNow, holdCommits, startLab, type Boundary, type Lab, type LabServer } from '../helpers/fault-lab.ts';
import { BACKFILL, BACKFILL_ROWS, KINDS, LANES, MODES, datasetOf, pipelineName, type Kind, type Mode, type Row, type SourceSpec } from './fault-pipelines.ts';

const FAULTS = Number(process.env.RELIABILITY_FAULTS ?? 100);
const SEED = Number(process.env.RELIABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PIPELINES_MODULE = fileURLToPath(new URL('./fault-pipelines.ts', import.meta.url));
/** The activities that do a run's work (and heartbeat): the ones a fault is aimed at. */
const WORK = ['run', 'extract', 'load'];

type FaultKind = 'sigkill' | 'pg-stop' | 'net-drop' | 'net-stall' | 'temporal-restart';
interface Plan {
  fault: FaultKind;
  boundary: Boundary;
  kind: Kind;
  mode: Mode;
  lane: number;
  newRows: number;
  updates: number;
  /** how long the fault lasts (Postgres down, network silent, Temporal down) */
  downMs: number;
  /** for `activity`: how long after the activity started */
  delayMs: number;
  /** which existing ids the run updates (fractions of the id count) */
  picks: number[];
}

const planArb: fc.Arbitrary<Plan> = fc.record({
  fault: fc.oneof(
    { arbitrary: fc.constant<FaultKind>('sigkill'), weight: 6 },
    { arbitrary: fc.constant<FaultKind>('pg-stop'), weight: 6 },
    { arbitrary: fc.constant<FaultKind>('net-drop'), weight: 4 },
    { arbitrary: fc.constant<FaultKind>('net-stall'), weight: 3 },
    { arbitrary: fc.constant<FaultKind>('temporal-restart'), weight: 1 },
  ),
  boundary: fc.constantFrom<Boundary>('activity', 'copy', 'tx-writes', 'commit'),
  kind: fc.constantFrom(...KINDS),
  mode: fc.constantFrom(...MODES),
  lane: fc.constant(0),
  newRows: fc.integer({ min: 1, max: 300 }),
  updates: fc.integer({ min: 0, max: 60 }),
  downMs: fc.integer({ min: 200, max: 1500 }),
  delayMs: fc.integer({ min: 0, max: 400 }),
  picks: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 60, maxLength: 60 }),
})
  // a long COPY is one into staging (decomposed runs) or into an append table (direct runs; the
  // other dispositions COPY into a TEMP table that has no slow-write trigger)
  .map((p) => (p.boundary === 'copy' && p.mode === 'none' && p.kind !== 'append' ? { ...p, mode: 'serialize' as Mode } : p));

/** What a pipeline's source holds and what its tables must hold. */
class Model {
  nextId = 1;
  runs = 0;
  current = new Map<number, Row>();
  log: Row[] = [];
  versions = 0;
  constructor(readonly kind: Kind) {}
}

let seq = 0;
function advance(m: Model, newRows: number, updates: number, picks: number[]): void {
  const changed: Row[] = [];
  const ids = [...m.current.keys()];
  for (let k = 0; k < updates && ids.length; k++) {
    const s = ++seq;
    const r = { id: ids[Math.floor(picks[k % picks.length] * ids.length)], seq: s, value: `v${s}` };
    m.current.set(r.id, r);
    changed.push(r);
  }
  for (let k = 0; k < newRows; k++) {
    const s = ++seq;
    const r = { id: m.nextId++, seq: s, value: `v${s}` };
    m.current.set(r.id, r);
    changed.push(r);
  }
  if (m.kind === 'append') m.log.push(...changed);
  if (m.kind === 'scd2') m.versions += new Set(changed.map((r) => r.id)).size;
}

const sourceRows = (m: Model) => [...(m.kind === 'append' ? m.log : m.current.values())].sort((a, b) => a.seq - b.seq);
const byKey = (a: Row, b: Row) => a.id - b.id || a.seq - b.seq;

/** A tally per fault kind and boundary. */
class Tally {
  readonly hits = new Map<string, number>();
  readonly misses = new Map<string, number>();
  add(map: Map<string, number>, key: string) {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
  table(): string {
    const faults = [...new Set([...this.hits.keys(), ...this.misses.keys()].map((k) => k.split(' ')[0]))].sort();
    const bounds: string[] = ['activity', 'copy', 'tx-writes', 'commit', 'backfill'];
    const cell = (f: string, b: string) => `${this.hits.get(`${f} ${b}`) ?? 0}/${this.misses.get(`${f} ${b}`) ?? 0}`.padStart(10);
    const lines = [`${'fault \\ boundary (hits/misses)'.padEnd(32)}${bounds.map((b) => b.padStart(10)).join('')}`];
    for (const f of faults) lines.push(`${f.padEnd(32)}${bounds.map((b) => cell(f, b)).join('')}`);
    return lines.join('\n');
  }
}

describe('reliability: randomized faults at every boundary', () => {
  const dataDir = tempDir('tide-fault-');
  const prefix = datasetName('fl');
  process.env.FAULT_DATA_DIR = dataDir;
  process.env.FAULT_PREFIX = prefix;
  const tq = taskQueue('fault');
  let lab: Lab;
  let connection: Connection;
  let client: Client;
  const models = new Map<string, Model>();
  const readers = new Map<string, Pipeline>();
  const references = new Map<string, Pipeline>();
  let defs: PipelineDefinition[];
  let runCounter = 0;
  /** the runs in flight, of every lane */
  const inFlight = new Set<WorkflowHandle>();
  let hourCursor = 0;
  let intervalsLoaded = 0;
  const tally = new Tally();
  let rowsChecked = 0;

  beforeAll(async () => {
    defs = ((await import('./fault-pipelines.ts')) as { default: PipelineDefinition[] }).default;
    lab = await startLab({
      pipelinesModule: PIPELINES_MODULE,
      lanes: LANES,
      workers: 4,
      prefix,
      slowWritesS: 0.2,
      env: { FAULT_DATA_DIR: dataDir, FAULT_PREFIX: prefix, FAULT_TASK_QUEUE: tq, FAULT_LANES: String(LANES), TIDE_HOME: tempDir('tide-fault-home-') },
    });
    connection = await Connection.connect({ address: lab.address });
    client = new Client({ connection });
    for (let lane = 0; lane < LANES; lane++) {
      const url = lab.servers[lane].pg.url;
      for (const k of KINDS) {
        for (const m of MODES) {
          const name = pipelineName(lane, k, m);
          models.set(name, new Model(k));
          readers.set(name, pipeline({ pipelineName: name, destination: postgres(url), datasetName: datasetOf(name), pipelinesDir: tempDir() }));
          references.set(name, pipeline({ pipelineName: name, destination: postgres(url), datasetName: `ref_${prefix}_${lane}_${k}_${m}`, pipelinesDir: tempDir() }));
        }
      }
    }
    readers.set(BACKFILL, pipeline({ pipelineName: BACKFILL, destination: postgres(lab.servers[0].pg.url), datasetName: datasetOf(BACKFILL), pipelinesDir: tempDir() }));
  }, 300_000);

  afterAll(async () => {
    for (const p of [...readers.values(), ...references.values()]) await p.close().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await lab?.close();
  });

  const writeSpec = (name: string, spec: SourceSpec) => writeFileSync(join(dataDir, `${name}.json`), JSON.stringify(spec));

  /**
   * The activity attempts of the workflow that came after a failed one, with how that one failed:
   * `timeout` (the heartbeat timeout of a dead worker's attempt) or the error it failed with.
   */
  async function retriedAttempts(handle: WorkflowHandle): Promise<{ what: string; timeout: boolean }[]> {
    const history = await handle.fetchHistory();
    const types = new Map<string, string>();
    const retried: { what: string; timeout: boolean }[] = [];
    for (const e of history.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) types.set(String(e.eventId), s.activityType?.name ?? '');
      const st = e.activityTaskStartedEventAttributes;
      if (!st || (st.attempt ?? 1) <= 1) continue;
      const timeout = Boolean(st.lastFailure?.timeoutFailureInfo);
      retried.push({ what: `${types.get(String(st.scheduledEventId))} attempt ${st.attempt} after ${timeout ? 'timeout' : (st.lastFailure?.message ?? '?').slice(0, 60)}`, timeout });
    }
    return retried;
  }

  /** Waits until the run is at `plan.boundary`, then injects the fault; returns where it landed (or undefined: the run finished first). */
  async function aimAndFire(plan: Plan, server: LabServer, handle: WorkflowHandle, finished: () => boolean): Promise<{ boundary: Boundary; detail: string } | undefined> {
    let startedAt = 0;
    while (!finished()) {
      const [where, pending] = await Promise.all([boundaryNow(server.admin), pendingActivities(handle)]);
      const running = pending.find((a) => a.state === 2 && a.workerPid && WORK.includes(a.type));
      if (running && !startedAt) startedAt = Date.now();
      // tx-writes: the load transaction's (`run` or `load`), not a decomposed extract's staging writes
      const ready =
        plan.boundary === 'activity'
          ? where.boundary === 'activity' && startedAt && Date.now() - startedAt >= plan.delayMs
          : where.boundary === plan.boundary && (plan.boundary !== 'tx-writes' || running?.type !== 'extract');
      if (ready && running && !(plan.fault === 'sigkill' && (await planningOn(running.workerPid!)))) return (await fire(plan, server, running.workerPid!)) ? where : undefined;
      await sleep(plan.boundary === 'activity' ? 20 : 5);
    }
    return undefined;
  }

  /**
   * Whether another run is in `planRun` on that worker: `planRun` has no heartbeat, so killing its
   * worker would cost that run the 5-minute start-to-close timeout (a SIGKILL then waits a moment).
   */
  async function planningOn(pid: number): Promise<boolean> {
    const all = await Promise.all([...inFlight].map((h) => pendingActivities(h).catch(() => [])));
    return all.flat().some((a) => a.type === 'planRun' && a.workerPid === pid);
  }

  /** Injects the fault; false when there was nothing to do (the worker was already dead: another lane's kill). */
  async function fire(plan: Plan, server: LabServer, workerPid: number): Promise<boolean> {
    const commit = plan.boundary === 'commit';
    let done = true;
    if (plan.fault === 'sigkill') done = await lab.killWorker(workerPid);
    else if (plan.fault === 'net-drop') server.proxy.drop();
    else if (plan.fault === 'net-stall') {
      server.proxy.stall();
      await sleep(plan.downMs);
      server.proxy.drop(); // a silent network ends in a reset (keepalive, a timeout): both sides then see it
      server.proxy.resume();
    } else if (plan.fault === 'pg-stop') {
      if (commit) await holdCommits(server.admin, false, false); // the restarted server must not hold commits
      await server.pg.crash();
      await sleep(plan.downMs);
      await server.pg.start();
      return true;
    }
    if (commit) await holdCommits(server.admin, false);
    return done;
  }

  /** One faulted run of a pipeline (undisturbed with `quiet`); verified exactly. Returns whether the fault counted. */
  async function faultedRun(i: number, plan: Plan, quiet = false): Promise<boolean> {
    const name = pipelineName(plan.lane, plan.kind, plan.mode);
    const server = lab.servers[plan.lane];
    const m = models.get(name)!;
    advance(m, plan.newRows, plan.updates, plan.picks);
    writeSpec(name, { rows: sourceRows(m), pageSize: 100, pageDelayMs: 15 });
    await lab.ensureWorkers(2);
    // crash recovery then replays this run's WAL only, not everything since the last timed checkpoint
    if (plan.fault === 'pg-stop') await server.admin.query('CHECKPOINT');
    if (plan.boundary === 'commit') await holdCommits(server.admin, true);
    const t0 = Date.now();
    const handle = await client.workflow.start('pipelineRun', { taskQueue: tq, workflowId: `fault-${prefix}-${++runCounter}`, args: [{ pipeline: name, kind: 'manual' }] });
    let finished = false;
    inFlight.add(handle);
    const result = handle.result().finally(() => {
      finished = true;
      inFlight.delete(handle);
    });
    result.catch(() => undefined);
    const landed = quiet ? undefined : await aimAndFire(plan, server, handle, () => finished).catch(async (e) => {
      if (plan.boundary === 'commit') await holdCommits(server.admin, false).catch(() => undefined);
      throw e;
    });
    if (plan.boundary === 'commit' && !landed) await holdCommits(server.admin, false);
    const tFired = Date.now();
    await Promise.race([result, sleep(150_000).then(() => Promise.reject(new Error(`run ${handle.workflowId} did not finish in 150 s`)))]);
    const tDone = Date.now();
    m.runs++;
    const label = `fault #${i} ${plan.fault} at ${plan.boundary} of ${name} (seed ${SEED})`;
    await verify(name, label);
    if (quiet) return false;
    // a retry that this fault caused: after a timeout for a SIGKILL, after an error for the others
    // (another lane's SIGKILL may have killed this run's worker too: that retry does not count here)
    const retried = await retriedAttempts(handle);
    const caused = retried.filter((r) => r.timeout === (plan.fault === 'sigkill'));
    const hit = landed !== undefined && landed.boundary === plan.boundary && caused.length > 0;
    tally.add(hit ? tally.hits : tally.misses, `${plan.fault} ${plan.boundary}`);
    if (process.env.RELIABILITY_DEBUG) console.log(label, JSON.stringify(landed), retried.map((r) => r.what).join(', ') || 'no retry', `aim ${tFired - t0} ms, recover ${tDone - tFired} ms, verify ${Date.now() - tDone} ms`);
    return hit;
  }

  async function verify(name: string, label: string): Promise<void> {
    const m = models.get(name)!;
    const p = readers.get(name)!;
    const ds = datasetOf(name);
    const got = await p.query<Row & { from?: string; to?: string | null }>(
      m.kind === 'scd2'
        ? `SELECT id::int AS id, seq::int AS seq, value, _dlt_valid_from::text AS "from", _dlt_valid_to::text AS "to" FROM "${ds}"."items" ORDER BY id, _dlt_valid_from`
        : `SELECT id::int AS id, seq::int AS seq, value FROM "${ds}"."items"`,
    );
    rowsChecked += got.length;
    const plain = (x: Row) => ({ id: x.id, seq: x.seq, value: x.value });
    if (m.kind === 'append') expect(got.map(plain).sort(byKey), label).toEqual([...m.log].sort(byKey));
    else if (m.kind === 'scd2') {
      expect(got.length, `${label}: scd2 versions`).toBe(m.versions);
      expect(got.filter((x) => x.to === null).map(plain).sort(byKey), label).toEqual([...m.current.values()].sort(byKey));
      // each id's versions chain without gap or overlap: the next one starts where the last ended
      for (let k = 1; k < got.length; k++) if (got[k].id === got[k - 1].id) expect(got[k - 1].to, `${label}: scd2 validity of id ${got[k].id}`).toBe(got[k].from);
      // every validity bound is the time of a committed load (its load id, in ms): none from an attempt that rolled back
      const [stray] = await p.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${ds}"."items" i, LATERAL (VALUES (i._dlt_valid_from), (i._dlt_valid_to)) AS b(t)
          WHERE b.t IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "${ds}"."_dlt_loads" l WHERE floor(l.load_id::numeric * 1000) = floor(extract(epoch FROM b.t) * 1000))`,
      );
      expect(stray.n, `${label}: scd2 validity bounds that are no committed load's time`).toBe(0);
    } else expect(got.sort(byKey), label).toEqual([...m.current.values()].sort(byKey));
    expect((await p.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${ds}"."_dlt_loads"`))[0].n, `${label}: one _dlt_loads row per run`).toBe(m.runs);
    await expectNoStaging(p, ds, label);
    if (m.kind !== 'scd2') await expectReferenceState(name, p, label);
  }

  /** The incremental state equals the one an undisturbed in-process run of the same data stores. */
  async function expectReferenceState(name: string, p: Pipeline, label: string): Promise<void> {
    const def = defs.find((d) => d.name === name)!;
    const ref = references.get(name)!;
    await ref.run(def.source({ params: {} }));
    const inc = (s: any) => s?.sources?.src?.resources?.items?.incremental?.seq;
    const mine = inc(await restorableState(p));
    expect(mine?.last_value, `${label}: stored cursor`).toBe(Math.max(...sourceRows(models.get(name)!).map((r) => r.seq)));
    expect(mine, `${label}: incremental state (unique_hashes, ranges) as an undisturbed run stores it`).toEqual(inc(await restorableState(ref)));
  }

  async function expectNoStaging(p: Pipeline, ds: string, label: string): Promise<void> {
    // tide's own bookkeeping stays (packages, run log lines); staged data must not
    const left = await p.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND table_name NOT IN ('_tide_packages', '_tide_run_log')`, [`${ds}_staging`]);
    expect(left.map((x) => x.t), `${label}: staging tables left`).toEqual([]);
    const packages = await p.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${ds}_staging"."_tide_packages"`).catch(() => [{ n: 0 }]);
    expect(packages[0].n, `${label}: orphaned packages`).toBe(0);
  }

  /** A parallel backfill of 6 fresh hours; Temporal is killed while a load writes, and restarted. */
  async function faultedBackfill(i: number, plan: Plan): Promise<boolean> {
    const from = new Date(Date.UTC(2026, 0, 1) + hourCursor * 3_600_000);
    hourCursor += 6;
    const to = new Date(from.getTime() + 6 * 3_600_000);
    await lab.ensureWorkers(2);
    const handle = await client.workflow.start('backfill', { taskQueue: tq, workflowId: `fault-bf-${prefix}-${++runCounter}`, args: [{ pipeline: BACKFILL, from: from.toISOString(), to: to.toISOString(), every: 'hour', parallel: 3 }] });
    let landed: { boundary: Boundary; detail: string } | undefined;
    for (let k = 0; k < 2000 && !landed; k++) {
      const where = await boundaryNow(lab.servers[0].admin);
      if (where.boundary === 'copy' || where.boundary === 'tx-writes') landed = where;
      else await sleep(5);
    }
    if (landed) await lab.restartTemporal(plan.downMs);
    const c2 = await Connection.connect({ address: lab.address });
    try {
      await new Client({ connection: c2 }).workflow.getHandle(handle.workflowId).result();
    } finally {
      await c2.close();
    }
    intervalsLoaded += 6;
    const label = `fault #${i} temporal-restart during backfill (seed ${SEED})`;
    await verifyBackfill(label);
    tally.add(landed ? tally.hits : tally.misses, 'temporal-restart backfill');
    return landed !== undefined;
  }

  async function verifyBackfill(label: string): Promise<void> {
    const p = readers.get(BACKFILL)!;
    const ds = datasetOf(BACKFILL);
    const [rows] = await p.query<{ n: number; d: number }>(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${ds}"."items"`);
    rowsChecked += rows.n;
    expect(rows, `${label}: rows`).toEqual({ n: intervalsLoaded * BACKFILL_ROWS, d: intervalsLoaded * BACKFILL_ROWS });
    const [ledger] = await p.query<{ n: number; d: number }>(`SELECT count(*)::int AS n, count(DISTINCT tide_interval_start)::int AS d FROM "${ds}"."_dlt_loads"`);
    expect(ledger, `${label}: one ledger row per interval`).toEqual({ n: intervalsLoaded, d: intervalsLoaded });
    await expectNoStaging(p, ds, label);
  }

  it(`${FAULTS} randomized faults, each landed where aimed and hitting an activity of the run, recover exactly`, { timeout: 240_000 + FAULTS * 20_000 }, async () => {
    const t0 = Date.now();
    console.log(`reliability faults: seed ${SEED} (reproduce: RELIABILITY_SEED=${SEED} RELIABILITY_FAULTS=${FAULTS} npx vitest run --config vitest.reliability.config.ts test/reliability/faults.test.ts)`);
    // an undisturbed first run of each pipeline, all at once, creates its tables (the slow-write triggers with them)
    const first = (lane: number, kind: Kind, mode: Mode): Plan => ({ fault: 'sigkill', boundary: 'activity', lane, kind, mode, newRows: 50, updates: 0, downMs: 0, delayMs: 0, picks: [0] });
    await Promise.all(Array.from({ length: LANES }, (_, lane) => KINDS.flatMap((kind) => MODES.map((mode) => faultedRun(0, first(lane, kind, mode), true)))).flat());
    // the lanes run at once, each on its own Postgres: lane L takes the plan's entries L, L + LANES, …
    // (a seed replays each lane's sequence); a Temporal restart waits until no lane is in a run
    const plans = fc.sample(planArb, { numRuns: FAULTS * 6, seed: SEED });
    const gate = new Gate();
    let hits = 0;
    let tried = 0;
    const lane = async (l: number) => {
      for (let j = l; j < plans.length && hits < FAULTS; j += LANES) {
        const plan = { ...plans[j], lane: l };
        const n = ++tried;
        const hit = plan.fault === 'temporal-restart' ? await gate.alone(() => faultedBackfill(n, plan)) : await gate.shared(() => faultedRun(n, plan));
        if (hit) hits++;
      }
    };
    await Promise.all(Array.from({ length: LANES }, (_, l) => lane(l)));
    const secs = (Date.now() - t0) / 1000;
    console.log(
      `reliability faults: ${hits} faults hit an activity of their run and recovered exactly (${tried} tried, ${tried - hits} hit nothing and were not counted), ` +
        `${runCounter} runs, ${intervalsLoaded} backfill intervals, ${rowsChecked} rows checked, ${secs.toFixed(1)} s (seed ${SEED})\n${tally.table()}`,
    );
    expect(hits).toBeGreaterThanOrEqual(FAULTS);
  });
});

/** Runs share the gate; a Temporal restart takes it alone (after the runs in flight finish). */
class Gate {
  #shared = 0;
  #exclusive: Promise<void> = Promise.resolve();
  #drained: (() => void) | undefined;

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    await this.#exclusive;
    this.#shared++;
    try {
      return await fn();
    } finally {
      if (--this.#shared === 0) this.#drained?.();
    }
  }

  async alone<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise((r) => (release = r));
    await before;
    while (this.#shared > 0) await new Promise<void>((r) => (this.#drained = r));
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
