/**
 * A window of concurrent tasks: at most `size` run at once, and the caller that would start one more
 * waits for a running one to finish (backpressure, like dlt's extract pool). The first failure is
 * kept and reported once every started task has settled, so nothing is still running, writing to a
 * sink or holding a generator open, when the caller sees the error.
 */
export class Window {
  readonly #size: number;
  readonly #onFailure: () => void;
  readonly #running = new Set<Promise<void>>();
  #failure?: { error: unknown };

  /** `onFailure` runs at the first failure: it tells the other tasks to stop at their next step. */
  constructor(size: number, onFailure: () => void) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a window needs a positive integer size, got ${size}`);
    this.#size = size;
    this.#onFailure = onFailure;
  }

  /** Starts `task` once fewer than `size` tasks run; after a failure, starts nothing. */
  async add(task: () => Promise<void>): Promise<void> {
    while (!this.#failure && this.#running.size >= this.#size) await Promise.race(this.#running);
    if (this.#failure) return;
    // started now (a synchronous throw becomes a rejection)
    const p: Promise<void> = new Promise<void>((resolve) => resolve(task()))
      .catch((error: unknown) => this.#fail(error))
      .finally(() => this.#running.delete(p));
    this.#running.add(p);
  }

  /** Waits for every started task; throws the first failure. */
  async settle(): Promise<void> {
    while (this.#running.size) await Promise.all(this.#running);
    if (this.#failure) throw this.#failure.error;
  }

  #fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = { error };
    this.#onFailure();
  }
}

/** What `eachInLanes` did with one item: its result, or the error it failed with. */
export type LaneOutcome<T, R> = { item: T; result: R; error?: undefined } | { item: T; result?: undefined; error: unknown };

/**
 * Runs `fn` for each item in order, at most `limit` at once; unless `keepGoing`, the first failure
 * starts nothing new (the running ones finish). The outcomes come back in the items' order, whatever
 * order they finished in. Pure: a decomposed run's components use it in-process and in the workflow.
 */
export async function eachInLanes<T, R>(items: readonly T[], limit: number, keepGoing: boolean, fn: (item: T) => Promise<R>): Promise<LaneOutcome<T, R>[]> {
  const outcomes: LaneOutcome<T, R>[] = [];
  let next = 0;
  let stop = false;
  const lane = async () => {
    while (!stop && next < items.length) {
      const item = items[next++];
      try {
        outcomes.push({ item, result: await fn(item) });
      } catch (error) {
        outcomes.push({ item, error });
        if (!keepGoing) stop = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return outcomes.sort((a, b) => items.indexOf(a.item) - items.indexOf(b.item));
}
