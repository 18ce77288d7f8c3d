/**
 * The search attributes tide sets on its runs, so the Web UI and `tide runs` can filter them. The
 * table below is the one list: the worker's registration and the dev server's flags are derived
 * from it (see `registration.ts`), and so is every run's list of attributes. Deterministic
 * (workflows use it).
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import { parseInstant, type IsoInterval } from '../pipeline/interval.ts';
import type { RunKind } from './payloads.ts';

/** tide's search attributes: each a name and a type. */
export const SA = {
  pipeline: defineSearchAttributeKey('TidePipeline', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('TideKind', SearchAttributeType.KEYWORD),
  loadId: defineSearchAttributeKey('TideLoadId', SearchAttributeType.KEYWORD),
  intervalStart: defineSearchAttributeKey('TideIntervalStart', SearchAttributeType.DATETIME),
  intervalEnd: defineSearchAttributeKey('TideIntervalEnd', SearchAttributeType.DATETIME),
  rows: defineSearchAttributeKey('TideRows', SearchAttributeType.INT),
  /** Whether the run added tables, columns or variant columns (`TideSchemaChanged = true` in the Web UI). */
  schemaChanged: defineSearchAttributeKey('TideSchemaChanged', SearchAttributeType.BOOL),
} as const;

/** Temporal's own attribute on runs a schedule started: their nominal time (not registered by tide). */
export const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** Name → type of each of tide's attributes, in table order: what must be registered. */
export function searchAttributeTypes(): Record<string, SearchAttributeType> {
  return Object.fromEntries(Object.values(SA).map((k) => [k.name, k.type]));
}

/** What a run is, set when it starts: its pipeline, its kind and, when it has one, its interval. */
export function runAttributes(pipeline: string, kind: RunKind, interval?: IsoInterval): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [
    { key: SA.pipeline, value: pipeline },
    { key: SA.kind, value: kind },
  ];
  if (interval) {
    pairs.push({ key: SA.intervalStart, value: parseInstant(interval.start, 'interval start') });
    pairs.push({ key: SA.intervalEnd, value: parseInstant(interval.end, 'interval end') });
  }
  return pairs;
}

/**
 * What a run did, set when it ends: rows loaded, when something was staged the load id and, when
 * known, whether it changed the schema (unknown for runs whose activities predate the report: their
 * histories replay with the attributes they had).
 */
export function resultAttributes(rows: number, loadId: string | null, schemaChanged?: boolean): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [{ key: SA.rows, value: rows }];
  if (loadId) pairs.push({ key: SA.loadId, value: loadId });
  if (schemaChanged !== undefined) pairs.push({ key: SA.schemaChanged, value: schemaChanged });
  return pairs;
}

/** A Web UI / visibility query for a pipeline's runs, optionally of one kind. */
export function runsQuery(pipeline: string, kind?: RunKind): string {
  const p = `${SA.pipeline.name} = '${pipeline.replace(/'/g, "\\'")}'`;
  return kind ? `${p} AND ${SA.kind.name} = '${kind}'` : p;
}
