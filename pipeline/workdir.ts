/**
 * The local working folder of one pipeline (`<pipelinesDir>/<pipelineName>`): the state and schemas
 * of the last committed run, as dlt keeps them. The destination stays the source of truth: an empty
 * or unreadable folder only means the state is restored from there.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Schema } from './schema.ts';
import { fromStoredSchema, toStoredSchema } from './schema-store.ts';
import { decodeTypedJson, encodeTypedJson, type PipelineState } from './state.ts';

export class WorkingFolder {
  constructor(readonly dir: string) {}

  /** The committed state, or undefined when there is none (or it cannot be read). */
  readState(): PipelineState | undefined {
    const text = this.#read(join(this.dir, 'state.json'));
    return text === undefined ? undefined : (tryParse(() => decodeTypedJson(text)) as PipelineState | undefined);
  }

  readSchema(name: string): Schema | undefined {
    const text = this.#read(this.#schemaFile(name));
    return text === undefined ? undefined : tryParse(() => fromStoredSchema(JSON.parse(text)));
  }

  /** Writes state and schema, each atomically (a crash leaves the old file, never half a new one). */
  write(state: PipelineState, schema: Schema): void {
    mkdirSync(join(this.dir, 'schemas'), { recursive: true });
    writeAtomically(join(this.dir, 'state.json'), encodeTypedJson(state));
    writeAtomically(this.#schemaFile(schema.name), JSON.stringify(toStoredSchema(schema), null, 2));
  }

  clear(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #schemaFile(name: string): string {
    return join(this.dir, 'schemas', `${name}.schema.json`);
  }

  #read(file: string): string | undefined {
    return existsSync(file) ? tryParse(() => readFileSync(file, 'utf8')) : undefined;
  }
}

function tryParse<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}
