/**
 * A tide worker process is one Temporal Worker for the workflows and the activities of the main
 * task queue, plus one activity-only Worker per pool (`definePipeline({ pool })`): each bounds how
 * many of the pool's extracts run at once in this process, and the pool's rate across all workers.
 * `WorkerGroup` runs and stops them together, with the methods of a single Worker callers use.
 */
import type { Worker } from '@temporalio/worker';

export class WorkerGroup {
  readonly main: Worker;
  readonly pools: readonly Worker[];

  constructor(main: Worker, pools: readonly Worker[]) {
    this.main = main;
    this.pools = pools;
  }

  /** Polls until `shutdown()`; rejects when any of the workers fails. */
  async run(): Promise<void> {
    const all = [this.main, ...this.pools].map((w) => w.run());
    try {
      await Promise.all(all);
    } catch (e) {
      this.shutdown();
      await Promise.allSettled(all);
      throw e;
    }
  }

  /** Runs the workers while `work` runs (a promise, or a function started once they run), then shuts them down; a worker failure rejects it. */
  async runUntil<T>(work: Promise<T> | (() => Promise<T>)): Promise<T> {
    const running = this.run();
    const stopped = running.then(() => Promise.reject(new Error('the workers stopped before the work finished')));
    stopped.catch(() => undefined);
    try {
      return await Promise.race([typeof work === 'function' ? work() : work, stopped]);
    } finally {
      this.shutdown();
      await running.catch(() => undefined);
    }
  }

  shutdown(): void {
    for (const w of [this.main, ...this.pools]) if (w.getState() === 'RUNNING') w.shutdown();
  }

  getState(): ReturnType<Worker['getState']> {
    return this.main.getState();
  }
}
