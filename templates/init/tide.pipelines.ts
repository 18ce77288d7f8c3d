/**
 * Your pipelines: the `tide` command reads this module.
 *
 *   npx tide run example     run one pipeline now, in this process (no Temporal needed)
 *   npx tide dev             Postgres + a Temporal dev server with its Web UI + a worker + the schedules
 *
 * Data goes to the embedded Postgres under .tide/ unless TIDE_POSTGRES_URL names another one.
 */
import { definePipeline, incremental, resource, source } from 'tide';

// Stand-in data: replace it with your API (see the comment in `events` below).
const EVENTS = [
  { id: 1, type: 'signup', at: '2024-01-01T09:00:00Z', tags: ['web'] },
  { id: 2, type: 'login', at: '2024-01-01T09:05:00Z', tags: [] },
  { id: 3, type: 'purchase', at: '2024-01-02T14:30:00Z', tags: ['web', 'promo'] },
];

// A resource yields items, or pages (arrays) of items. tide infers the table and its columns;
// nested lists become child tables (here `events__tags`).
const events = resource(
  async function* (ctx) {
    // Incremental: only items past the highest `id` loaded so far. That cursor is pipeline state,
    // committed in the same transaction as the data, so a failed run never skips items.
    const since = Number(ctx.incremental!.startValue);
    // With a real API:
    //   const res = await fetch(`https://api.example.com/events?after=${since}`);
    //   yield (await res.json()) as Event[];
    yield EVENTS.filter((e) => e.id > since);
  },
  {
    name: 'events',
    primaryKey: 'id',
    writeDisposition: 'merge', // 'append' | 'replace' | 'merge' (update rows by primary key)
    incremental: incremental('id', { initialValue: 0 }),
  },
);

export default [
  definePipeline({
    name: 'example',
    datasetName: 'example_data', // the Postgres schema the tables go to
    source: () => source('example', [events]),
    schedule: { every: 'day' }, // `tide dev` runs it daily, and once at start over the last complete day
  }),
];
