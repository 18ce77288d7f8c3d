/**
 * Which boundary-dedup hash form a pipeline writes: the form the dlt version that shares its dataset
 * reads. dlt before 1.29 only matches 20-character hashes (its boundary rows would load twice
 * after tide wrote 12-character ones); dlt 1.29 and later read both and write 12.
 */
import { dedupHashFormOf, type DedupHashForm } from '../normalize/hash.ts';
import { ConfigurationError } from '../errors.ts';
import type { PipelineState } from '../state.ts';

/** The first dlt version that writes the short form. */
const SHORT_FROM: [number, number] = [1, 29];

/**
 * The configured dlt version decides; without one, the hashes already in the state tell which dlt
 * wrote them (a long hash anywhere: an older dlt shares the dataset); with none, the latest dlt's form.
 */
export function dedupHashFormFor(state: PipelineState | undefined, dltVersion?: string): DedupHashForm {
  if (dltVersion !== undefined) return formOfVersion(dltVersion);
  for (const h of storedHashes(state)) if (dedupHashFormOf(h) === 'long') return 'long';
  return 'short';
}

function formOfVersion(version: string): DedupHashForm {
  const [major, minor] = version.split('.').map((x) => Number.parseInt(x, 10));
  if (!Number.isInteger(major) || !Number.isInteger(minor)) throw new ConfigurationError(`dltVersion must look like "1.26" or "1.26.0", got ${JSON.stringify(version)}`);
  return major > SHORT_FROM[0] || (major === SHORT_FROM[0] && minor >= SHORT_FROM[1]) ? 'short' : 'long';
}

/**
 * Every `unique_hashes` entry of every incremental cursor in the state, one at a time: a boundary can
 * hold a million (spreading them into one array push overflowed the call stack).
 */
function* storedHashes(state: PipelineState | undefined): Generator<string> {
  for (const source of Object.values<any>(state?.sources ?? {})) {
    for (const resource of Object.values<any>(source?.resources ?? {})) {
      for (const cursor of Object.values<any>(resource?.incremental ?? {})) {
        if (!Array.isArray(cursor?.unique_hashes)) continue;
        for (const h of cursor.unique_hashes) if (typeof h === 'string') yield h;
      }
    }
  }
}
