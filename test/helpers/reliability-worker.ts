/**
 * Worker processes for fault-injection tests: spawn `test/reliability/worker-main.ts` as a child
 * (a real OS process: SIGKILL leaves no chance to clean up), wait for `READY`, kill it; see which
 * worker runs a workflow's activities.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';

const WORKER_MAIN = fileURLToPath(new URL('../reliability/worker-main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerProcess {
  pid: number;
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
  /** stderr tail, for diagnostics */
  log: () => string;
  alive: () => boolean;
}

export function spawnWorker(opts: { pipelinesModule: string; taskQueue: string; env: Record<string, string> }): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN, opts.pipelinesModule, opts.taskQueue], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  let exitedFlag = false;
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((res) =>
    child.on('exit', (code) => {
      exitedFlag = true;
      res(code);
    }),
  );
  const ready = new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) res();
    });
    void exited.then((code) => rej(new Error(`worker exited (${code}) before READY: ${err}`)));
  });
  ready.catch(() => undefined);
  return { pid: child.pid!, child, ready, exited, log: () => err, alive: () => !exitedFlag };
}

export async function killWorker(w: WorkerProcess): Promise<void> {
  if (!w.alive()) return;
  w.child.kill('SIGKILL');
  await w.exited;
}

export async function stopWorker(w: WorkerProcess): Promise<void> {
  if (!w.alive()) return;
  w.child.kill('SIGTERM');
  const t = setTimeout(() => w.child.kill('SIGKILL'), 10_000);
  await w.exited;
  clearTimeout(t);
}

export interface PendingActivity {
  activityId: string;
  type: string;
  state: number; // 1 scheduled, 2 started, 3 cancel requested
  attempt: number;
  workerPid?: number;
}

/** The workflow's pending activities (who runs them: the worker identity is `<pid>@<host>`). */
export async function pendingActivities(handle: WorkflowHandle): Promise<PendingActivity[]> {
  const d = await handle.describe();
  return (d.raw.pendingActivities ?? []).map((a) => ({
    activityId: a.activityId ?? '',
    type: a.activityType?.name ?? '',
    state: Number(a.state ?? 0),
    attempt: Number(a.attempt ?? 0),
    workerPid: a.lastWorkerIdentity ? Number(String(a.lastWorkerIdentity).split('@')[0]) : undefined,
  }));
}
