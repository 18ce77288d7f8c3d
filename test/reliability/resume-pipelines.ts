/**
 * The pipeline of the resumable-extraction reliability test: REST-like pages from the test's HTTP
 * server (`REL_RESUME_URL`), a checkpoint after each page, decomposed so its extract is staged.
 */
import { definePipeline, incremental, resource, source } from 'tide';

export const RESUME_PIPELINE = 'resume_items';
export const resumeDataset = () => `${process.env.REL_PREFIX ?? 'rel'}_resume`;

const items = resource(
  async function* (ctx) {
    const url = process.env.REL_RESUME_URL;
    if (!url) throw new Error('REL_RESUME_URL is not set');
    for (let page = ctx.resumeFrom === undefined ? 0 : (ctx.resumeFrom as number) + 1; ; page++) {
      const res = await fetch(`${url}/items?page=${page}`);
      if (!res.ok) throw new Error(`GET page ${page}: ${res.status}`);
      const body = (await res.json()) as unknown[];
      if (!body.length) return;
      yield body;
      await ctx.checkpoint(page);
    }
  },
  { name: 'items', primaryKey: 'id', incremental: incremental('updated_at') },
);

// heartbeat 5 s: the server notices the killed worker in seconds and retries on the next one
export default [
  definePipeline({
    name: RESUME_PIPELINE,
    datasetName: resumeDataset(),
    source: () => source('api', [items]),
    decompose: 'serialize',
    timeouts: { heartbeat: '5s' },
    retries: { extract: { initialInterval: '200ms' } },
  }),
];
