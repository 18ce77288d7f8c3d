/**
 * How tide's activities retry. Whether a failure is worth retrying is not listed here: the
 * activity marks a failure non-retryable when its error class says retrying cannot help.
 * Deterministic (workflows use it).
 */
import type { RetryPolicy } from '@temporalio/common';
import type { RetrySpec } from '../pipeline/define.ts';

/** Exponential backoff from 1 s, capped at 1 min between attempts, at most `maximumAttempts` attempts. */
export function activityRetryPolicy(maximumAttempts: number): RetryPolicy {
  return { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts };
}

/** The definition's policy of a run, as `planRun` read it (RunPlanResult's fields). */
export interface RunPolicy {
  retries?: { extract?: RetrySpec; load?: RetrySpec };
  timeouts?: { extract?: string; load?: string; heartbeat?: string };
}

/**
 * The options of a run's extracting (`run` / `extract`) or `load` activities: tide's defaults (2 h,
 * heartbeat 30 s, 5 or 10 attempts from 1 s to 1 min) with the definition's retries and timeouts over them.
 */
export function activityOptionsFor(step: 'extract' | 'load', policy: RunPolicy = {}) {
  const r = policy.retries?.[step] ?? {};
  const base = activityRetryPolicy(step === 'extract' ? 5 : 10);
  return {
    startToCloseTimeout: (policy.timeouts?.[step] ?? '2 hours') as '2 hours',
    heartbeatTimeout: (policy.timeouts?.heartbeat ?? '30 seconds') as '30 seconds',
    retry: {
      ...base,
      ...(r.maximumAttempts !== undefined ? { maximumAttempts: r.maximumAttempts } : {}),
      ...(r.initialInterval !== undefined ? { initialInterval: r.initialInterval as '1 second' } : {}),
      ...(r.backoffCoefficient !== undefined ? { backoffCoefficient: r.backoffCoefficient } : {}),
      ...(r.maximumInterval !== undefined ? { maximumInterval: r.maximumInterval as '1 minute' } : {}),
    },
  };
}
