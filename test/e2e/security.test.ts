/**
 * Security (issue 16, item 5): credentials and the privileges tide needs.
 *
 * A Postgres role made exactly as docs/security.md says (LOGIN, a recognizable password, CONNECT +
 * CREATE + TEMPORARY on the database, nothing else) runs pipelines through every `tide` command that
 * touches a run: in-process, a worker, trigger, a backfill, runs, info, a failing run, and a run with a
 * wrong password. The password appears in no stdout / stderr of any of them, nor in any Temporal
 * payload of the runs: every history event (workflow inputs, activity inputs and results, failures),
 * memo and search attribute, decoded from their bytes.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { TideClient } from '../../client/temporal.ts';
import { pgUrl, tempDir } from '../helpers/pipelines.ts';
import { taskQueue, temporalAddress } from '../helpers/temporal.ts';
import { runTide, type TideExit } from '../helpers/cli.ts';
import { waitFor } from '../helpers/reliability-db.ts';

const SUFFIX = randomBytes(4).toString('hex');
const ROLE = `tide_loader_${SUFFIX}`;
const PASSWORD = `Tide-Secret-${randomBytes(6).toString('hex')}-PW`;
const WRONG_PASSWORD = `Tide-Wrong-${randomBytes(6).toString('hex')}-PW`;

/** Every string and every byte string (decoded as UTF-8) inside a value: what a payload reveals. */
function texts(v: unknown, out: string[] = [], seen = new Set<unknown>()): string[] {
  if (typeof v === 'string') out.push(v);
  else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
  else if (v && typeof v === 'object' && !seen.has(v)) {
    seen.add(v);
    for (const x of Object.values(v)) texts(x, out, seen);
  }
  return out;
}

/** The pipelines module (no imports): `secret_demo` loads 3 rows (one per hour of its interval when it has one); `secret_fail` throws. */
function pipelinesModule(dir: string, ds: string): string {
  const mod = join(dir, 'pipelines.mjs');
  writeFileSync(
    mod,
    `export default [
      {
        name: 'secret_demo',
        datasetName: ${JSON.stringify(ds)},
        source: () => function* events(ctx) {
          const start = ctx.interval ? ctx.interval.start.toMillis() : Date.parse('2026-01-01T00:00:00Z');
          for (let h = 0; h < 3; h++) yield { id: start / 3_600_000 + h, at: new Date(start + h * 3_600_000).toISOString() };
        },
      },
      { name: 'secret_fail', datasetName: ${JSON.stringify(ds)}, source: () => function* broken() { throw new Error('the source broke on purpose'); } },
    ];\n`,
  );
  return mod;
}

describe('security: credentials never leak; the documented role is enough', () => {
  let admin: pg.Client;
  let url: string;
  let wrongUrl: string;
  const ds = `sec_${SUFFIX}`;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: pgUrl() });
    await admin.connect();
    const db = (await admin.query<{ d: string }>('SELECT current_database() AS d')).rows[0].d;
    // exactly the role setup of docs/security.md
    await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`);
    await admin.query(`GRANT CONNECT, CREATE, TEMPORARY ON DATABASE "${db}" TO ${ROLE}`);
    const u = new URL(pgUrl());
    u.username = ROLE;
    u.password = PASSWORD;
    url = u.toString();
    u.password = WRONG_PASSWORD;
    wrongUrl = u.toString();
  });
  afterAll(async () => {
    await admin.query(`DROP OWNED BY ${ROLE} CASCADE`).catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => undefined);
    await admin.end();
  });

  it('every tide command and every Temporal payload of the runs: no password; the loads happened as the role', { timeout: 240_000 }, async () => {
    const home = tempDir('tide-sec-');
    const mod = pipelinesModule(home, ds);
    const tq = taskQueue('sec');
    const server = ['--pipelines', mod, '--address', temporalAddress(), '--task-queue', tq];
    const env = { TIDE_POSTGRES_URL: url };

    // a worker, as users start it
    const worker = spawn(process.execPath, ['bin/tide.js', 'worker', ...server], { env: { ...process.env, ...env, TIDE_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let workerOut = '';
    worker.stdout.on('data', (b: Buffer) => (workerOut += b.toString()));
    worker.stderr.on('data', (b: Buffer) => (workerOut += b.toString()));
    const workerExit = new Promise<void>((r) => worker.on('close', () => r()));
    const outputs: Record<string, TideExit> = {};
    try {
      await waitFor(() => workerOut.includes('Ctrl-C stops'), 60_000);
      const tide = (name: string, args: string[], e: Record<string, string> = env) => runTide(home, args, { env: e, timeoutMs: 90_000, graceMs: 5_000 }).then((r) => (outputs[name] = r));
      await tide('run', ['run', 'secret_demo', '--pipelines', mod]);
      await tide('trigger', ['trigger', 'secret_demo', '--from', '2026-02-01T00:00:00Z', '--to', '2026-02-01T03:00:00Z', ...server]);
      await tide('backfill', ['backfill', 'secret_demo', '--from', '2026-03-01', '--to', '2026-03-03', '--every', 'day', ...server]);
      await tide('runs', ['runs', 'secret_demo', ...server]);
      await tide('info', ['pipeline', 'secret_demo', 'info', '-v', '--pipelines', mod]);
      await tide('trigger-fail', ['trigger', 'secret_fail', ...server]);
      await tide('run-wrong-password', ['run', 'secret_demo', '--pipelines', mod], { TIDE_POSTGRES_URL: wrongUrl });
    } finally {
      worker.kill('SIGTERM');
      await workerExit;
    }

    // the commands did what they say (so their output is worth searching)
    const codes = Object.fromEntries(Object.entries(outputs).map(([k, r]) => [k, r.code === 0]));
    expect(codes).toEqual({ run: true, trigger: true, backfill: true, runs: true, info: true, 'trigger-fail': false, 'run-wrong-password': false });
    expect(outputs['trigger-fail'].stdout + outputs['trigger-fail'].stderr).toMatch(/the source broke on purpose/);
    expect(outputs['run-wrong-password'].stderr).toMatch(/password authentication failed/);

    // every Temporal payload of the runs on this task queue
    const client = await TideClient.connect({ address: temporalAddress(), taskQueue: tq });
    const payloads: string[] = [];
    let workflows = 0;
    try {
      for await (const w of client.client.workflow.list({ query: `TaskQueue = "${tq}"` })) {
        workflows++;
        const h = client.client.workflow.getHandle(w.workflowId, w.runId);
        texts((await h.describe()).raw, payloads);
        texts(await h.fetchHistory(), payloads);
      }
    } finally {
      await client.close();
    }
    expect(workflows).toBeGreaterThanOrEqual(5); // trigger, backfill + its 2 intervals, the failed trigger
    // the search reaches decoded payload bytes (JSON inputs) and failures
    expect(payloads.join('\n')).toContain('"secret_demo"');
    expect(payloads.join('\n')).toContain('the source broke on purpose');
    const haystack = [...payloads, workerOut, ...Object.values(outputs).flatMap((r) => [r.stdout, r.stderr])].join('\n');
    expect(haystack).toContain('the source broke on purpose'); // failures are in what was searched
    expect(haystack).toContain('secret_demo');
    for (const secret of [PASSWORD, WRONG_PASSWORD]) {
      const forms = [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];
      const found = forms.filter((f) => haystack.includes(f));
      expect({ secret, found }).toEqual({ secret, found: [] });
    }

    // the role did the loads: it owns the dataset, 3 + 3 + 2×3 rows in it, and it has nothing beyond the documented grants
    const owner = await admin.query<{ o: string }>('SELECT nspowner::regrole::text AS o FROM pg_namespace WHERE nspname = $1', [ds]);
    expect(owner.rows).toEqual([{ o: ROLE }]);
    const n = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${ds}"."events"`);
    expect(n.rows[0].n).toBe(12);
    const role = await admin.query(`SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, (SELECT count(*)::int FROM pg_auth_members WHERE member = r.oid) AS memberships FROM pg_roles r WHERE rolname = $1`, [ROLE]);
    expect(role.rows).toEqual([{ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false, memberships: 0 }]);
    console.log(
      `security: ${Object.keys(outputs).length} tide commands + 1 worker, ${workflows} workflows (${payloads.length} payload strings, ${(haystack.length / 1024).toFixed(0)} KiB searched): ` +
        `the password appears 0 times; loads ran as ${ROLE} with CONNECT, CREATE, TEMPORARY only`,
    );
  });
});
