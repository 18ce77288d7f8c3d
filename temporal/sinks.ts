/**
 * What workflows tell the worker's process without a command in their history (Temporal sinks):
 * how each run ended and how late a scheduled run started, for the worker's metrics
 * (worker/metrics.ts). Not called while a workflow replays, so nothing is counted twice.
 * Deterministic (workflows use it).
 */
import type { Sinks } from '@temporalio/workflow';
import type { RunKind } from './payloads.ts';

export interface RunFinished {
  pipeline: string;
  kind: RunKind;
  status: 'completed' | 'failed' | 'cancelled';
  /** From the run's start to its end, in workflow time. */
  durationMs: number;
}

export interface TideSinks extends Sinks {
  tideMetrics: {
    runFinished(run: RunFinished): void;
    /** A scheduled run's actual start minus its nominal (scheduled) time. */
    scheduleLag(pipeline: string, lagMs: number): void;
  };
}
