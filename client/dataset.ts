/**
 * What the CLI shows of a pipeline's dataset (its loads, tables and sample rows), read through the
 * destination client: the CLI writes no SQL.
 */
import { postgres, type Destination, type DestinationClient } from '../index.ts';
import type { PipelineDefinition } from '../pipeline/define.ts';

/**
 * Opens `datasetName` on the pipeline's destination, runs `fn` with the client, and closes what it
 * opened (a destination given in the definition belongs to the definition and stays open).
 */
export async function withDataset<T>(def: PipelineDefinition, datasetName: string, fn: (c: DestinationClient) => Promise<T>): Promise<T> {
  const given = def.destination === 'postgres' ? undefined : def.destination;
  const destination: Destination = given ?? postgres();
  try {
    const client = await destination.open(datasetName);
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  } finally {
    if (!given) await destination.close();
  }
}
