/**
 * Determinism: histories recorded from real runs (RECORD_HISTORIES=1 npx vitest run test/e2e) are
 * replayed against the current workflow code. A change that would break running workflows fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../worker/index.ts';

const dir = new URL('./histories/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('workflow replay', () => {
  it('has recorded histories of every workflow type', () => {
    // backfill-planned: a backfill with indexes (--reprocess all --backwards)
    // pipelineRun-before-plan: a run recorded before runs were planned (extract → load), replayed on the old branch
    expect(files.sort()).toEqual(['backfill-planned.json', 'backfill.json', 'pipelineRun-before-plan.json', 'pipelineRun-decomposed.json', 'pipelineRun.json', 'scheduledRun.json']);
  });

  for (const f of files) {
    it(`replays ${f} without non-determinism`, async () => {
      const history = JSON.parse(readFileSync(new URL(f, dir), 'utf8'));
      await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, `replay-${f}`)).resolves.toBeUndefined();
    });
  }
});
