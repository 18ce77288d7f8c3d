/** tide incremental loading (dlt `dlt.sources.incremental`). See docs/api.md, "Incremental". */
export { incremental, IncrementalDef, validateCursorPath, type IncrementalOptions, type LastValueFunc, type IncrementalFactory } from './definition.ts';
export { Incremental, convertIntervalBound, DUPLICATE_CURSOR_WARNING_THRESHOLD, type BindContext, type IncrementalCursorState } from './runtime.ts';
export { compare, parseIso, shiftByLag } from './compare.ts';
export { loadConfig, configLookup, incrementalSection } from './config.ts';
export { COMPACT_MIN } from './boundary.ts';
