/**
 * Alerts (issue 15, item 2: failure and success): a webhook the test serves receives each run event
 * exactly once, also when the notify activity is retried after delivering it (a hook that throws
 * once); a webhook that keeps failing never fails the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { definePipeline, incremental, resource } from 'tide';
import { datasetName } from '../helpers/pipelines.ts';
import { withWorker } from '../helpers/temporal.ts';
import { startWebhook, type Webhook } from '../helpers/webhook.ts';

let hook: Webhook;
let base = '';

beforeAll(async () => {
  hook = await startWebhook();
  base = hook.base;
});

afterAll(() => hook?.close());

describe('run notifications', () => {
  it('a failure and a success reach the webhook exactly once each, with what happened', async () => {
    let hookCalls = 0;
    const broken = resource(function* () { yield [{ id: 1 }]; }, { name: 'broken', incremental: incremental('updated_at') });
    const good = resource(function* () { yield [{ id: 1 }, { id: 2 }]; }, { name: 'good' });
    const failing = definePipeline({
      name: `nf_fail_${Date.now()}`, datasetName: datasetName('nf'), source: () => broken,
      notify: { webhook: `${base}/hook`, on: ['failure', 'success'] },
      // throws once after the webhook was delivered: the notify activity is retried, the webhook not re-sent
      onFailure: () => {
        hookCalls++;
        if (hookCalls === 1) throw new Error('hook hiccup');
      },
    });
    const passing = definePipeline({ name: `nf_ok_${Date.now()}`, datasetName: datasetName('nf'), source: () => good, notify: { webhook: `${base}/hook`, on: ['failure', 'success'] } });
    await withWorker([failing, passing], async (client) => {
      await expect(client.runNow(failing.name)).rejects.toBeInstanceOf(WorkflowFailedError);
      const ok = await client.runNow(passing.name);
      const byPipeline = hook.of;
      expect(byPipeline(failing.name)).toHaveLength(1);
      const [f] = byPipeline(failing.name);
      expect(f.body).toMatchObject({ event: 'failure', pipeline: failing.name, kind: 'manual', error: { type: 'IncrementalCursorPathMissing', resource: 'broken' }, attempts: { activity: 'run' } });
      expect(f.key).toBe(`${f.body.workflowId}/${f.body.runId}/failure`);
      expect(f.body.url).toContain(encodeURIComponent(f.body.workflowId));
      expect(hookCalls).toBe(2);
      expect(byPipeline(passing.name)).toHaveLength(1);
      expect(byPipeline(passing.name)[0].body).toMatchObject({ event: 'success', pipeline: passing.name, loadId: ok.loadId, tables: { good: { rows: 2 } } });
    });
  });

  it('a webhook that keeps failing never fails the run', async () => {
    const good = resource(function* () { yield [{ id: 1 }]; }, { name: 'good' });
    const def = definePipeline({ name: `nf_down_${Date.now()}`, datasetName: datasetName('nf'), source: () => good, notify: { webhook: `${base}/down`, on: ['success'] } });
    await withWorker([def], async (client) => {
      expect((await client.runNow(def.name)).tables).toEqual({ good: { rows: 1 } });
    });
  });
});
