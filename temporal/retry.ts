/**
 * How tide's activities retry. Whether a failure is worth retrying is not listed here: the
 * activity marks a failure non-retryable when its error class says retrying cannot help.
 * Deterministic (workflows use it).
 */
import type { RetryPolicy } from '@temporalio/common';

/** Exponential backoff from 1 s, capped at 1 min between attempts, at most `maximumAttempts` attempts. */
export function activityRetryPolicy(maximumAttempts: number): RetryPolicy {
  return { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts };
}
