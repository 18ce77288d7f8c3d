/**
 * `pipeline()`: the engine's `Pipeline` with the default destination filled in. The engine never
 * chooses a driver; this is where the package entry, the CLI and the activities get `postgres()`.
 */
import { Pipeline } from '../pipeline/pipeline.ts';
import type { Destination } from '../pipeline/destination.ts';
import type { PipelineOptions } from '../pipeline/options.ts';
import { postgres } from './postgres/destination.ts';

/** A Destination for `destination` as `PipelineOptions` takes it (unset or `'postgres'`: `postgres()`), and whether the caller made it. */
export function resolveDestination(destination: PipelineOptions['destination']): { destination: Destination; owned: boolean } {
  if (destination === undefined || destination === 'postgres') return { destination: postgres(), owned: true };
  return { destination, owned: false };
}

/** Creates a pipeline. */
export function pipeline(opts: PipelineOptions): Pipeline {
  const { destination, owned } = resolveDestination(opts?.destination);
  return new Pipeline({ ...opts, destination }, owned);
}
