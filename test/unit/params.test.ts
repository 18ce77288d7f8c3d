import { describe, expect, it } from 'vitest';
import { definePipeline } from '../../pipeline/define.ts';
import { ParamError, parseParamArgs, resolveParams, type ParamSpecs } from '../../pipeline/params.ts';
import { ConfigurationError } from '../../pipeline/errors.ts';

const SPECS: ParamSpecs = {
  repo: { type: 'string', required: true, description: 'owner/name' },
  limit: { type: 'number', default: 10 },
  full: { type: 'boolean', default: false },
  since: { type: 'date' },
};

describe('run params', () => {
  it('parses k=v strings by type, applies defaults, and freezes the result', () => {
    const p = resolveParams(SPECS, parseParamArgs(['repo=a/b', 'limit=5', 'full=true', 'since=2026-01-05']));
    expect(p).toEqual({ repo: 'a/b', limit: 5, full: true, since: '2026-01-05T00:00:00Z' });
    expect(Object.isFrozen(p)).toBe(true);
    expect(resolveParams(SPECS, { repo: 'x' })).toEqual({ repo: 'x', limit: 10, full: false });
    // JSON input (the Web UI) as typed values; resolved params resolve to themselves
    expect(resolveParams(SPECS, { repo: 'x', limit: 3, full: false, since: '2026-01-05T01:00:00+01:00' })).toEqual({ repo: 'x', limit: 3, full: false, since: '2026-01-05T00:00:00Z' });
    expect(resolveParams(SPECS, resolveParams(SPECS, { repo: 'x', limit: '7' }))).toEqual({ repo: 'x', limit: 7, full: false });
    expect(parseParamArgs(['q=a=b'])).toEqual({ q: 'a=b' });
    expect(resolveParams(undefined, undefined)).toEqual({});
  });

  it('rejects a bad type, a missing required param and an unknown one, naming the param', () => {
    const err = (given: unknown) => {
      try {
        resolveParams(SPECS, given, 'gh');
      } catch (e) {
        return e as ParamError;
      }
      throw new Error('no error');
    };
    expect(err({ repo: 'x', limit: 'ten' })).toMatchObject({ name: 'ParamError', param: 'limit', retryable: false });
    expect(err({ repo: 'x', limit: 'ten' }).message).toContain('Param "limit" of pipeline "gh" must be a number, got "ten"');
    expect(err({ repo: 'x', full: 'yes' })).toMatchObject({ param: 'full' });
    expect(err({ repo: 'x', since: 'yesterday' })).toMatchObject({ param: 'since' });
    expect(err({ repo: 1 })).toMatchObject({ param: 'repo' });
    expect(err({})).toMatchObject({ param: 'repo', message: expect.stringContaining('Missing required param "repo"') });
    expect(err({ repo: 'x', nope: 1 })).toMatchObject({ param: 'nope', message: expect.stringContaining('Unknown param "nope"') });
    expect(err([1])).toBeInstanceOf(ParamError);
    expect(() => parseParamArgs(['novalue'])).toThrow(ParamError);
  });

  it('definePipeline checks the specs and their defaults', () => {
    const source = () => [];
    expect(() => definePipeline({ name: 'p', source, params: { a: { type: 'int' as never } } })).toThrow(ConfigurationError);
    expect(() => definePipeline({ name: 'p', source, params: { a: { type: 'number', default: 'x' } } })).toThrow(/default of param "a"/);
    expect(() => definePipeline({ name: 'p', source, params: { 'a b': { type: 'string' } } })).toThrow(ConfigurationError);
    expect(definePipeline({ name: 'p', source, params: SPECS }).params).toBe(SPECS);
  });
});
