/**
 * A real tide worker as its own process, for fault injection (SIGKILL) tests:
 *
 *   node --import tsx test/reliability/worker-main.ts <pipelinesModule> <taskQueue>
 *
 * `TIDE_POSTGRES_URL` and `TEMPORAL_ADDRESS` come from the environment. Prints `READY <pid>` once
 * the worker is created and polling; SIGTERM shuts it down gracefully (SIGKILL is the point). The
 * sticky queue timeout is `REL_STICKY_TIMEOUT` (default 2 s, not the SDK's 10 s).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { postgres, type PipelineDefinition } from 'tide';
import { createWorker } from '../../worker/index.ts';

const [modulePath, taskQueue] = process.argv.slice(2);
if (!modulePath || !taskQueue) {
  process.stderr.write('usage: worker-main.ts <pipelinesModule> <taskQueue>\n');
  process.exit(2);
}
const url = process.env.TIDE_POSTGRES_URL;
const address = process.env.TEMPORAL_ADDRESS;
if (!url || !address) {
  process.stderr.write('worker-main: set TIDE_POSTGRES_URL and TEMPORAL_ADDRESS\n');
  process.exit(2);
}

const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as { default?: unknown; pipelines?: unknown };
const exported = mod.default ?? mod.pipelines;
const pipelines = (Array.isArray(exported) ? exported : Object.values(exported as object)) as PipelineDefinition[];
const destination = postgres(url);
// a killed worker cannot hand its sticky workflows back: the next workflow task waits this long for it
const sticky = process.env.REL_STICKY_TIMEOUT ?? '2s';
const { worker, close } = await createWorker({ pipelines, address, taskQueue, destination, stickyQueueScheduleToStartTimeout: sticky });
process.on('SIGTERM', () => worker.shutdown());
const running = worker.run();
process.stdout.write(`READY ${process.pid}\n`);
try {
  await running;
} finally {
  await close();
  await destination.close();
}
