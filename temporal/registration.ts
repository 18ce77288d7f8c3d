/**
 * tide's search attributes as the server wants them registered, derived from the one table in
 * `search-attributes.ts`: the worker's operator-service call and the dev server's CLI flags.
 * Not for workflows (it loads the protobuf definitions).
 */
import type { SearchAttributeType } from '@temporalio/common';
import proto from '@temporalio/proto';
import { searchAttributeTypes } from './search-attributes.ts';

type IndexedValueType = proto.temporal.api.enums.v1.IndexedValueType;
const { IndexedValueType } = proto.temporal.api.enums.v1;

/** Name → `IndexedValueType`: the argument of the operator service's `addSearchAttributes`. */
export function searchAttributeRegistrations(): Record<string, IndexedValueType> {
  return Object.fromEntries(Object.entries(searchAttributeTypes()).map(([name, type]) => [name, IndexedValueType[`INDEXED_VALUE_TYPE_${type}`]]));
}

/** The type names `temporal server start-dev --search-attribute Name=Type` accepts. */
const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** `--search-attribute Name=Type` for each attribute, for the dev server's command line. */
export function devServerSearchAttributeFlags(): string[] {
  return Object.entries(searchAttributeTypes()).flatMap(([name, type]) => ['--search-attribute', `${name}=${CLI_TYPE_NAMES[type]}`]);
}
