/**
 * How an activity's error becomes a Temporal failure. Whether retrying can help is the error
 * class's own answer (`TideError.retryable`); this only carries it to Temporal.
 */
import { ApplicationFailure } from '@temporalio/common';
import { TideError } from '../pipeline/errors.ts';

/**
 * A TideError becomes an `ApplicationFailure` of the same type name, non-retryable unless the error
 * says a retry can help, with where it happened as details. Anything else (a bug, or an error thrown
 * outside a resource, e.g. by the definition's `source()`) is passed through, and Temporal retries
 * it under the activity's retry policy.
 */
export function toFailure(e: unknown): unknown {
  if (!(e instanceof TideError)) return e;
  return ApplicationFailure.create({
    message: e.message,
    type: e.name,
    nonRetryable: !e.retryable,
    details: [{ pipeline: e.pipeline, resource: e.resource, table: e.table, column: e.column }],
    cause: e,
  });
}
