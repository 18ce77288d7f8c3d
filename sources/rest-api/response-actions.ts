/**
 * Response actions: what to do with a response before it counts as a page or an error (dlt's
 * `response_actions`). An action matches on status and/or a substring of the body; `'ignore'`
 * ends the endpoint's pagination quietly, with nothing yielded from that response.
 */
import { ConfigurationError } from '../../pipeline/errors.ts';

/** What an action function sees of a response. */
export interface ResponseInfo {
  status: number;
  headers: Headers;
  /** The raw body text. */
  text: string;
  url: string;
}

/** `{ statusCode: 404, action: 'ignore' }`, `{ content: 'not found', action: 'ignore' }`, or a function returning `'ignore'` or nothing. */
export type ResponseAction = { statusCode?: number; content?: string; action: 'ignore' } | ((res: ResponseInfo) => 'ignore' | undefined | void);

export function validateResponseActions(actions: readonly ResponseAction[] | undefined, resource: string): void {
  for (const a of actions ?? []) {
    if (typeof a === 'function') continue;
    if (a === null || typeof a !== 'object' || a.action !== 'ignore') {
      throw new ConfigurationError(`responseActions of resource "${resource}": an action must be a function or { statusCode?, content?, action: 'ignore' }, got ${JSON.stringify(a)}`, { resource });
    }
    if (a.statusCode === undefined && a.content === undefined) {
      throw new ConfigurationError(`responseActions of resource "${resource}": { action: 'ignore' } needs a statusCode or a content to match`, { resource });
    }
  }
}

/** Whether an action says to ignore this response (the first matching action decides). */
export function ignored(actions: readonly ResponseAction[] | undefined, res: ResponseInfo): boolean {
  for (const a of actions ?? []) {
    if (typeof a === 'function') {
      if (a(res) === 'ignore') return true;
      continue;
    }
    const statusOk = a.statusCode === undefined || a.statusCode === res.status;
    const contentOk = a.content === undefined || res.text.includes(a.content);
    if (statusOk && contentOk) return true;
  }
  return false;
}
