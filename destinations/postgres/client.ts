/**
 * Moved to destination.ts. Kept only until pipeline/pipeline.ts and worker/index.ts (reshaped in
 * other branches) import `postgres` from there; then delete this file.
 */
export { postgres } from './destination.ts';
