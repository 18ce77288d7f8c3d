/**
 * The progress poller of `tide backfill`: one poll at a time, and nothing after `stop()`: no new
 * poll, no timer left, and the answer of a poll in flight at the stop is dropped (that answer
 * restarted the progress bar after the result, whose timer then kept the process alive).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { pollProgress } from '../../client/progress.ts';

describe('pollProgress', () => {
  it('shows each answer, polls one at a time, and stops polling at stop()', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let calls = 0;
    const shown: number[] = [];
    const poller = pollProgress(
      async () => {
        calls++;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await sleep(15); // slower than the period: polls must not pile up
        inFlight--;
        return calls;
      },
      (n) => shown.push(n),
      5,
    );
    await sleep(120);
    poller.stop();
    const callsAtStop = calls;
    await sleep(60);
    expect(maxInFlight).toBe(1);
    expect(callsAtStop).toBeGreaterThanOrEqual(2);
    expect(calls).toBe(callsAtStop);
    expect(shown.length).toBeGreaterThanOrEqual(1);
    expect(shown).toEqual([...shown].sort((a, b) => a - b));
  });

  it('drops the answer of a poll that is in flight at stop()', async () => {
    let answer!: (n: number) => void;
    let asked = 0;
    const shown: number[] = [];
    const poller = pollProgress(
      () => {
        asked++;
        return new Promise<number>((r) => (answer = r));
      },
      (n) => shown.push(n),
      5,
    );
    await sleep(30);
    expect(asked).toBe(1); // the first poll waits for its answer
    poller.stop(); // the result came first
    answer(4);
    await sleep(30);
    expect(shown).toEqual([]);
    expect(asked).toBe(1);
  });

  it('a failed or empty poll shows nothing and polling goes on; a failing display ends polling', async () => {
    const answers: (() => Promise<number | undefined>)[] = [async () => undefined, async () => Promise.reject(new Error('query failed')), async () => 3, async () => 4];
    let i = 0;
    const shown: number[] = [];
    const poller = pollProgress(
      () => (answers[i++] ?? (async () => 9))(),
      (n) => {
        shown.push(n);
        if (n === 4) throw new Error('display broke');
      },
      5,
    );
    await sleep(150);
    const asked = i;
    await sleep(40);
    poller.stop();
    expect(shown).toEqual([3, 4]);
    expect(asked).toBe(4);
    expect(i).toBe(4);
  });

  it('stop() before the first poll: nothing is ever asked', async () => {
    let asked = 0;
    const poller = pollProgress(async () => ++asked, () => undefined, 5);
    poller.stop();
    await sleep(30);
    expect(asked).toBe(0);
  });
});
