/**
 * Per-pipeline policy (issue 15, item 1: retries and timeouts): the definition's retries and
 * timeouts reach the activities of its runs (read by `planRun` at each run's start), visible in the
 * scheduled activity's options and in the attempts the run took.
 */
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, RetryState } from '@temporalio/common';
import { definePipeline, resource, ConfigurationError } from 'tide';
import { datasetName } from '../helpers/pipelines.ts';
import { withWorker } from '../helpers/temporal.ts';

const seconds = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(d?.seconds ?? 0) + (d?.nanos ?? 0) / 1e9;

describe('per-pipeline retries and timeouts', () => {
  it("a run takes the definition's attempts, backoff and timeouts", async () => {
    let calls = 0;
    const flaky = resource(
      function* () {
        calls++;
        throw new Error(`upstream down (${calls})`);
      },
      { name: 'flaky' },
    );
    const def = definePipeline({
      name: `policy_${Date.now()}`,
      datasetName: datasetName('pol'),
      source: () => flaky,
      retries: { extract: { maximumAttempts: 2, initialInterval: '1s', backoffCoefficient: 3, maximumInterval: '5s' } },
      timeouts: { extract: '10m', heartbeat: '20s' },
    });
    await withWorker([def], async (client) => {
      const err = await client.runNow(def.name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const activity = (err as WorkflowFailedError).cause as ActivityFailure;
      expect(activity.activityType).toBe('run');
      expect(activity.retryState).toBe(RetryState.MAXIMUM_ATTEMPTS_REACHED);
      const [run] = await client.runs(def.name, 1);
      const history = await client.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes).find((a) => a?.activityType?.name === 'run')!;
      expect(seconds(scheduled.startToCloseTimeout)).toBe(600);
      expect(seconds(scheduled.heartbeatTimeout)).toBe(20);
      expect(scheduled.retryPolicy?.maximumAttempts).toBe(2);
      expect(scheduled.retryPolicy?.backoffCoefficient).toBe(3);
      expect(seconds(scheduled.retryPolicy?.initialInterval)).toBe(1);
      expect(seconds(scheduled.retryPolicy?.maximumInterval)).toBe(5);
    });
    expect(calls).toBe(2);
  });

  it('a bad policy is a ConfigurationError when the pipeline is defined', () => {
    const base = { name: 'p', source: () => [] };
    expect(() => definePipeline({ ...base, retries: { extract: { maximumAttempts: 0 } } })).toThrow(ConfigurationError);
    expect(() => definePipeline({ ...base, timeouts: { load: 'soon' } })).toThrow(/timeouts.load must be a duration/);
    expect(() => definePipeline({ ...base, retries: { transform: {} } as never })).toThrow(/retries has extract and load/);
  });
});
