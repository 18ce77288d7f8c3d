/**
 * The configuration of `incremental.fromConfig()` (seeds' `id_after` example), read through the
 * one config module (pipeline/config.ts): the table `[<pipeline_name>.sources.<resource_name>]` of
 * config.toml, keys snake_case (cursor_path, initial_value, …), overridden by environment variables
 * `<PIPELINE_NAME>__SOURCES__<RESOURCE_NAME>__<KEY>` (upper case, values parsed).
 */
import { Configuration, loadToml, type ConfigTable, type Env } from '../config.ts';

/** Reads `<dir>/config.toml`; a missing file is an empty config. A malformed file → ConfigurationError. */
export function loadConfig(dir = '.tide'): ConfigTable {
  return loadToml(dir, 'config.toml');
}

/** The section of `fromConfig()` for a resource in `config`. */
export function incrementalSection(config: Configuration, pipelineName: string, resourceName: string): ConfigTable | undefined {
  return config.table([pipelineName, 'sources', resourceName]);
}

/** The `[<pipeline>.sources.<resource>]` table of a parsed config.toml merged with env overrides; undefined when neither exists. */
export function configLookup(pipelineName: string, resourceName: string, env: Env = process.env, config: ConfigTable = loadConfig()): ConfigTable | undefined {
  return incrementalSection(new Configuration({ env, config }), pipelineName, resourceName);
}
