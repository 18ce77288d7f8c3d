/**
 * Resumable extraction: what a staged extract commits with its pages at each `ctx.checkpoint(value)`
 * and a later attempt of the same package starts from. The run's draft state (incremental cursors
 * as of the checkpoint), the schema its staged rows have, each resource's last checkpoint value and
 * the tables each resource wrote; opaque text to the destination.
 */
import type { Schema } from './schema.ts';
import { decodeTypedJson, encodeTypedJson, type PipelineState } from './state.ts';

export interface ExtractProgress {
  draft: PipelineState;
  schema: Schema;
  /** resource → the value of its last checkpoint (`ctx.resumeFrom` of the next attempt) */
  checkpoints: Record<string, unknown>;
  /** resource → the tables it wrote rows to */
  tables: Record<string, string[]>;
  /** items staged before the checkpoint, over all attempts */
  items: number;
}

export function encodeProgress(p: ExtractProgress): string {
  return encodeTypedJson(p);
}

export function decodeProgress(text: string): ExtractProgress {
  return decodeTypedJson(text) as ExtractProgress;
}
