/**
 * The activities a workflow needs of Temporal's schedules and of the ledger: a cron schedule's
 * interval, pausing a schedule after failures (`pauseOnFailure`), and whether an interval is loaded
 * (an SLA's check).
 */
import { Context, ApplicationFailure } from '@temporalio/activity';
import { ScheduleNotFoundError } from '@temporalio/client';
import { msToTs, tsToMs } from '@temporalio/common/lib/time.js';
import { formatInstant, parseInstant, type IsoInterval } from '../pipeline/interval.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import type { PauseScheduleInput, ScheduleIntervalInput } from '../temporal/payloads.ts';
import { intervalWorkflowId, scheduleId } from '../temporal/ids.ts';
import { intervalStatuses } from '../client/intervals.ts';

/**
 * The interval of a cron-scheduled run: `[previous matching time, this one)` of the schedule's
 * spec, read from Temporal (`ListScheduleMatchingTimes`). A time off the spec (a manual trigger)
 * is floored to the last matching time first.
 */
export async function scheduleInterval(input: ScheduleIntervalInput): Promise<IsoInterval> {
  const client = Context.current().client;
  const nominal = parseInstant(input.nominal, 'nominal time').getTime();
  const DAY = 86_400_000;
  for (const back of [DAY, 8 * DAY, 32 * DAY, 367 * DAY, 4 * 367 * DAY]) {
    const res = await client.workflowService.listScheduleMatchingTimes({
      namespace: client.options.namespace,
      scheduleId: input.scheduleId,
      startTime: msToTs(nominal - back),
      endTime: msToTs(nominal),
    });
    const times = (res.startTime ?? []).map((t) => tsToMs(t)).filter((t) => t <= nominal).sort((a, b) => a - b);
    if (times.length >= 2) return { start: formatInstant(new Date(times[times.length - 2])), end: formatInstant(new Date(times[times.length - 1])) };
  }
  throw ApplicationFailure.nonRetryable(`Schedule ${input.scheduleId} has no two matching times before ${input.nominal}`, 'NoScheduleInterval');
}

/** Pauses the pipeline's schedule with a note saying why; false when it has none. */
export async function pauseSchedule(input: PauseScheduleInput): Promise<boolean> {
  try {
    await Context.current().client.schedule.getHandle(scheduleId(input.pipeline)).pause(input.note);
    return true;
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) return false;
    throw e;
  }
}

/**
 * Whether an interval counts as loaded, as `tide intervals` reads it: committed loads in the ledger
 * cover it, or its latest run completed with nothing to load.
 */
export async function intervalLoaded(p: Pipeline, interval: IsoInterval): Promise<boolean> {
  const loads = await p.intervalLoads(interval.start, interval.end);
  const id = intervalWorkflowId(p.pipelineName, interval);
  const runs = new Map();
  try {
    const d = await Context.current().client.workflow.getHandle(id).describe();
    runs.set(id, { workflowId: id, runId: d.runId, status: d.status.name, startTime: d.startTime, closeTime: d.closeTime, url: '' });
  } catch {
    // no run of it in the history: the ledger alone says
  }
  return intervalStatuses(p.pipelineName, [interval], loads, runs)[0].status === 'loaded';
}
