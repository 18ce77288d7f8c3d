/**
 * Paginators: how the next page is requested, and when there is none. The kinds and their options
 * are dlt's, camelCased; `auto` (or no paginator) picks one from the
 * first response like dlt's detector. A paginator is stateful, so each paginated request gets a
 * fresh one from `paginatorFactory`.
 */
import { ConfigurationError } from '../../pipeline/errors.ts';
import { findValue } from './json-path.ts';

/** The request a paginator may change: the URL, its query params and the JSON body. */
export interface PageRequest {
  url: string;
  params: Record<string, unknown>;
  json?: unknown;
}

/** What a paginator reads from a response. */
export interface PageResponse {
  url: string;
  headers: Headers;
  body: unknown;
}

/** A paginator (implement it for a custom scheme and pass `() => new MyPaginator()`). */
export interface Paginator {
  /** Sets up the first request (e.g. `offset=0&limit=100`). */
  init(req: PageRequest): void;
  /** Reads a response and its records; decides whether there is a next page. */
  update(res: PageResponse, records: unknown[]): void;
  readonly hasNextPage: boolean;
  /** Turns the request into the one for the next page. */
  next(req: PageRequest): void;
}

export interface JsonLinkPaginatorConfig { type: 'json_link'; nextUrlPath?: string }
export interface HeaderLinkPaginatorConfig { type: 'header_link'; linksNextKey?: string }
export interface OffsetPaginatorConfig {
  type: 'offset';
  limit: number;
  offset?: number;
  offsetParam?: string;
  limitParam?: string;
  /** Dotted paths in the JSON body to send offset and limit in instead of query params (POST APIs). */
  offsetBodyPath?: string;
  limitBodyPath?: string;
  /** Where the total number of items is; `null` when the API gives none (then stop on an empty page or hasMorePath). */
  totalPath?: string | null;
  maximumOffset?: number;
  stopAfterEmptyPage?: boolean;
  hasMorePath?: string;
}
export interface PageNumberPaginatorConfig {
  type: 'page_number';
  basePage?: number;
  page?: number;
  pageParam?: string;
  /** A dotted path in the JSON body to send the page number in instead of a query param. */
  pageBodyPath?: string;
  /** Where the total number of pages is; `null` when the API gives none. */
  totalPath?: string | null;
  maximumPage?: number;
  stopAfterEmptyPage?: boolean;
  hasMorePath?: string;
}
export interface CursorPaginatorConfig {
  type: 'cursor';
  cursorPath?: string;
  cursorParam?: string;
  /** A dotted path in the JSON body to send the cursor in instead of a query param. */
  cursorBodyPath?: string;
  stopAfterEmptyPage?: boolean;
}
export interface HeaderCursorPaginatorConfig { type: 'header_cursor'; cursorKey?: string; cursorParam?: string }
export interface SinglePagePaginatorConfig { type: 'single_page' }
export interface AutoPaginatorConfig { type: 'auto' }

export type PaginatorType = 'json_link' | 'header_link' | 'offset' | 'page_number' | 'cursor' | 'header_cursor' | 'single_page' | 'auto';

/** A paginator by kind (`'header_link'`), by kind and options, or a factory of a custom one. */
export type PaginatorConfig =
  | PaginatorType
  | JsonLinkPaginatorConfig
  | HeaderLinkPaginatorConfig
  | OffsetPaginatorConfig
  | PageNumberPaginatorConfig
  | CursorPaginatorConfig
  | HeaderCursorPaginatorConfig
  | SinglePagePaginatorConfig
  | AutoPaginatorConfig
  | (() => Paginator);

class SinglePage implements Paginator {
  hasNextPage = true;
  init(): void {}
  update(): void {
    this.hasNextPage = false;
  }
  next(): void {}
}

/** A next-page URL from the response; the next request goes there as it is (its params replace ours, like dlt). */
abstract class NextUrl implements Paginator {
  hasNextPage = true;
  #next?: string;
  init(): void {}
  update(res: PageResponse): void {
    const next = this.nextUrl(res);
    this.#next = next ? new URL(next, res.url).toString() : undefined;
    this.hasNextPage = this.#next !== undefined;
  }
  next(req: PageRequest): void {
    req.url = this.#next!;
    req.params = {};
  }
  protected abstract nextUrl(res: PageResponse): string | undefined;
}

class JsonLink extends NextUrl {
  constructor(private readonly path = 'next') {
    super();
  }
  protected nextUrl(res: PageResponse): string | undefined {
    const v = findValue(this.path, res.body);
    return typeof v === 'string' && v !== '' ? v : undefined;
  }
}

class HeaderLink extends NextUrl {
  constructor(private readonly rel = 'next') {
    super();
  }
  protected nextUrl(res: PageResponse): string | undefined {
    return parseLinkHeader(res.headers.get('link'))[this.rel];
  }
}

/** `<url>; rel="next", <url>; rel="prev"` → `{ next: url, prev: url }`. */
export function parseLinkHeader(header: string | null): Record<string, string> {
  const links: Record<string, string> = {};
  for (const m of (header ?? '').matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
    const rel = /;\s*rel\s*=\s*"?([^";,]+)"?/i.exec(m[2])?.[1];
    if (rel) for (const r of rel.trim().split(/\s+/)) links[r] = m[1];
  }
  return links;
}

/** Where a paginator puts a value: a query param, or a dotted path in the JSON body. */
type Slot = { param: string } | { bodyPath: string };

function put(req: PageRequest, slot: Slot, value: unknown): void {
  if ('param' in slot) {
    req.params[slot.param] = value;
    return;
  }
  const keys = slot.bodyPath.split('.');
  let obj = (req.json ??= {}) as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) obj = (obj[k] ??= {}) as Record<string, unknown>;
  obj[keys.at(-1)!] = value;
}

/** The slot of a value given as a param name or a body path (not both, as in dlt). */
function slotOf(what: string, param: string | undefined, bodyPath: string | undefined, defaultParam: string): Slot {
  if (param !== undefined && bodyPath !== undefined) throw new ConfigurationError(`The ${what} paginator takes a param name or a body path, not both`);
  return bodyPath !== undefined ? { bodyPath } : { param: param ?? defaultParam };
}

interface RangeOptions {
  slot: Slot;
  start: number;
  step: number;
  baseIndex: number;
  totalPath?: string;
  maximum?: number;
  stopAfterEmptyPage: boolean;
  hasMorePath?: string;
  /** values sent with every request (the offset paginator's limit) */
  fixed?: { slot: Slot; value: unknown }[];
  what: string;
}

/** A number in the params that grows by a step (offset, page number), stopping at a total, a maximum, an empty page or `hasMore: false`. */
class Range implements Paginator {
  hasNextPage = true;
  #value: number;
  constructor(private readonly o: RangeOptions) {
    this.#value = o.start;
    if (o.totalPath === undefined && o.maximum === undefined && o.hasMorePath === undefined && !o.stopAfterEmptyPage) {
      throw new ConfigurationError(`The ${o.what} paginator needs one of totalPath, a maximum, hasMorePath or stopAfterEmptyPage to know when to stop`);
    }
  }
  init(req: PageRequest): void {
    // the counter first, then the fixed params: dlt's order, so both send the same URLs
    put(req, this.o.slot, this.#value);
    for (const f of this.o.fixed ?? []) put(req, f.slot, f.value);
  }
  update(res: PageResponse, records: unknown[]): void {
    if (this.o.stopAfterEmptyPage && records.length === 0) {
      this.hasNextPage = false;
      return;
    }
    this.#value += this.o.step;
    const total = this.o.totalPath === undefined ? undefined : this.#number(this.o.totalPath, res.body, 'total');
    if ((total !== undefined && this.#value >= total + this.o.baseIndex) || (this.o.maximum !== undefined && this.#value >= this.o.maximum)) {
      this.hasNextPage = false;
    }
    if (this.o.hasMorePath !== undefined) this.hasNextPage &&= this.#hasMore(res.body);
  }
  next(req: PageRequest): void {
    put(req, this.o.slot, this.#value);
  }
  #number(path: string, body: unknown, what: string): number {
    const v = findValue(path, body);
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) {
      throw new ConfigurationError(`The ${this.o.what} paginator expected an integer ${what} at "${path}" in the response, got ${JSON.stringify(v)}`, { value: body });
    }
    return n;
  }
  #hasMore(body: unknown): boolean {
    const v = findValue(this.o.hasMorePath!, body);
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    throw new ConfigurationError(`The ${this.o.what} paginator expected a boolean at "${this.o.hasMorePath}" in the response, got ${JSON.stringify(v)}`, { value: body });
  }
}

/** A cursor from the body, sent back as a query param (or in the JSON body); stops when the cursor is empty. */
class Cursor implements Paginator {
  hasNextPage = true;
  #cursor: unknown;
  constructor(private readonly path = 'cursors.next', private readonly slot: Slot = { param: 'cursor' }, private readonly stopAfterEmptyPage = true) {}
  init(): void {}
  update(res: PageResponse, records: unknown[]): void {
    this.#cursor = findValue(this.path, res.body);
    this.hasNextPage = !(this.#cursor === undefined || this.#cursor === null || this.#cursor === '') && !(this.stopAfterEmptyPage && records.length === 0);
  }
  next(req: PageRequest): void {
    put(req, this.slot, this.#cursor);
  }
}

/** A cursor from a response header, sent back as a query param; stops when the header is absent. */
class HeaderCursor implements Paginator {
  hasNextPage = true;
  #cursor: string | null = null;
  constructor(private readonly key = 'next', private readonly param = 'cursor') {}
  init(): void {}
  update(res: PageResponse): void {
    this.#cursor = res.headers.get(this.key);
    this.hasNextPage = !!this.#cursor;
  }
  next(req: PageRequest): void {
    req.params[this.param] = this.#cursor;
  }
}

/** Picks a paginator from the first response (dlt's detector order), then delegates to it. */
class Auto implements Paginator {
  #chosen?: Paginator;
  init(): void {}
  get hasNextPage(): boolean {
    return this.#chosen ? this.#chosen.hasNextPage : true;
  }
  update(res: PageResponse, records: unknown[]): void {
    this.#chosen ??= detectPaginator(res);
    this.#chosen.update(res, records);
  }
  next(req: PageRequest): void {
    this.#chosen!.next(req);
  }
}

/** dlt's detectors, in dlt's order: Link header, a next link in the body, a total-pages count, a next cursor, else one page. */
function detectPaginator(res: PageResponse): Paginator {
  if (parseLinkHeader(res.headers.get('link')).next) return new HeaderLink();
  const next = findKey(res.body, (k, v) => /^next$/i.test(k) && isScalar(v), /^(href|url)$/i);
  if (next && typeof next.value === 'string' && (next.value.startsWith('http') || next.value.startsWith('/'))) return new JsonLink(next.path);
  const pages = findKey(res.body, (k, v) => /^(total_pages|pages|totalpages)$/i.test(k) && isScalar(v));
  if (pages && Number.isInteger(Number(pages.value))) return new Range(pageNumberOptions({ type: 'page_number', totalPath: pages.path }));
  if (next) return new Cursor(next.path);
  return new SinglePage();
}

function isScalar(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'number';
}

/** The first key (depth first, in key order) that `match`es, or a dict under it with a key matching `inner`; its dotted path. */
function findKey(body: unknown, match: (k: string, v: unknown) => boolean, inner?: RegExp, path: string[] = []): { path: string; value: unknown } | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  for (const [k, v] of Object.entries(body)) {
    if (match(k, v)) return { path: [...path, k].join('.'), value: v };
    if (inner && /^next$/i.test(k) && v && typeof v === 'object') {
      const hit = Object.entries(v).find(([ik, iv]) => inner.test(ik) && isScalar(iv));
      if (hit) return { path: [...path, k, hit[0]].join('.'), value: hit[1] };
    }
    if (v && typeof v === 'object') {
      const found = findKey(v, match, inner, [...path, k]);
      if (found) return found;
    }
  }
  return undefined;
}

function pageNumberOptions(c: PageNumberPaginatorConfig): RangeOptions {
  const base = c.basePage ?? 0;
  return {
    what: 'page_number', slot: slotOf('page_number', c.pageParam, c.pageBodyPath, 'page'), start: c.page ?? base, step: 1, baseIndex: base,
    totalPath: c.totalPath === null ? undefined : (c.totalPath ?? 'total'), maximum: c.maximumPage,
    stopAfterEmptyPage: c.stopAfterEmptyPage ?? true, hasMorePath: c.hasMorePath,
  };
}

function offsetOptions(c: OffsetPaginatorConfig): RangeOptions {
  if (!Number.isInteger(c.limit) || c.limit <= 0) throw new ConfigurationError(`The offset paginator needs a positive integer limit, got ${JSON.stringify(c.limit)}`);
  return {
    what: 'offset', slot: slotOf('offset', c.offsetParam, c.offsetBodyPath, 'offset'), start: c.offset ?? 0, step: c.limit, baseIndex: 0,
    totalPath: c.totalPath === null ? undefined : (c.totalPath ?? 'total'), maximum: c.maximumOffset,
    stopAfterEmptyPage: c.stopAfterEmptyPage ?? true, hasMorePath: c.hasMorePath, fixed: [{ slot: slotOf('offset', c.limitParam, c.limitBodyPath, 'limit'), value: c.limit }],
  };
}

/** A factory of fresh paginators for a config (validated now, so a bad config fails at definition time). */
export function paginatorFactory(config: PaginatorConfig | undefined): () => Paginator {
  if (typeof config === 'function') return config;
  const c = typeof config === 'string' ? ({ type: config } as Exclude<PaginatorConfig, string | (() => Paginator)>) : config;
  const make = factoryFor(c);
  make(); // validates the options
  return make;
}

function factoryFor(c: Exclude<PaginatorConfig, string | (() => Paginator)> | undefined): () => Paginator {
  switch (c?.type) {
    case undefined:
    case 'auto': return () => new Auto();
    case 'single_page': return () => new SinglePage();
    case 'json_link': return () => new JsonLink(c.nextUrlPath);
    case 'header_link': return () => new HeaderLink(c.linksNextKey);
    case 'cursor': { const slot = slotOf('cursor', c.cursorParam, c.cursorBodyPath, 'cursor'); return () => new Cursor(c.cursorPath, slot, c.stopAfterEmptyPage); }
    case 'header_cursor': return () => new HeaderCursor(c.cursorKey, c.cursorParam);
    case 'offset': { const o = offsetOptions(c); return () => new Range(o); }
    case 'page_number': { const o = pageNumberOptions(c); return () => new Range(o); }
    default:
      throw new ConfigurationError(`Unknown paginator type ${JSON.stringify((c as { type: unknown }).type)}: use one of json_link, header_link, offset, page_number, cursor, header_cursor, single_page, auto`);
  }
}
