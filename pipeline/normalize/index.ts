export { Normalizer } from './normalizer.ts';
export type { NormalizerOptions, EmitFn } from './normalizer.ts';
export {
  normalizeIdentifier,
  normalizePath,
  makePath,
  shortenFragments,
  shortenIdentifier,
  breakPath,
  PATH_SEPARATOR,
  EMPTY_KEY_IDENTIFIER,
} from './naming.ts';
export { inferType, valueType, coerceValue, parseIsoTimestamp, pyFloatRepr } from './types.ts';
export type { CoerceResult } from './types.ts';
export { uniqueId, nestedRowId, digest10, digest128, sortedJson, dedupHash } from './hash.ts';
