/**
 * Polling a long-running thing for progress, with an end that is an end: after `stop()` no poll
 * starts, no timer is left, and the answer of a poll still in flight is dropped, so whatever
 * `show` drives (a progress bar and its timer) cannot come back to life after the result.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProgressPoller {
  /** Stops polling; `show` is never called after this returns (nor after it was called). */
  stop(): void;
}

/**
 * Calls `fetch` every `everyMs`, one call at a time (the next waits for the answer of the last), and
 * hands each defined answer to `show`. A `fetch` that throws counts as no answer.
 */
export function pollProgress<P>(fetch: () => Promise<P | undefined>, show: (p: P) => void, everyMs: number): ProgressPoller {
  const abort = new AbortController();
  void (async () => {
    while (!abort.signal.aborted) {
      try {
        await sleep(everyMs, undefined, { signal: abort.signal });
      } catch {
        return; // stopped while waiting: the timer is cleared by the abort
      }
      let p: P | undefined;
      try {
        p = await fetch();
      } catch {
        p = undefined;
      }
      // the answer came after stop(): the thing is over, and its display with it
      if (abort.signal.aborted) return;
      if (p === undefined) continue;
      try {
        show(p);
      } catch {
        abort.abort(); // a display that fails is not shown again; the caller still gets its result
      }
    }
  })();
  return { stop: () => abort.abort() };
}
