/**
 * How an activity's error becomes a Temporal failure: retryable exactly when the error class says
 * so; errors that are not tide's are left to Temporal's retry policy.
 */
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import {
  CannotCoerceNullError,
  ConfigurationError,
  ExtractError,
  IncrementalCursorPathMissing,
  LoadError,
  NormalizeError,
  ResourceDefinitionError,
  SchemaError,
  TideError,
  type PipelineDefinition,
} from 'tide';
import { toFailure } from '../../activities/failure.ts';
import { createActivities } from '../../activities/index.ts';

function failure(e: unknown): ApplicationFailure {
  const f = toFailure(e);
  expect(f).toBeInstanceOf(ApplicationFailure);
  return f as ApplicationFailure;
}

describe('toFailure', () => {
  it('keeps the error\'s type name, message, where it happened and the error itself', () => {
    const e = new NormalizeError('Cannot normalize item', { pipeline: 'gh', resource: 'issues', table: 'issues', column: 'body', item: { id: 1 } });
    const f = failure(e);
    expect(f.type).toBe('NormalizeError');
    expect(f.message).toBe(e.message);
    expect(f.details).toEqual([{ pipeline: 'gh', resource: 'issues', table: 'issues', column: 'body' }]);
    expect(f.cause).toBe(e);
  });

  it('makes an error retryable exactly when its class says a retry can help', () => {
    const cases: [TideError, boolean][] = [
      [new ExtractError('upstream hiccup'), true],
      [new LoadError('connection reset', { retryable: true }), true],
      [new LoadError('numeric field overflow'), false],
      [new NormalizeError('bad item'), false],
      [new CannotCoerceNullError('null key'), false],
      [new SchemaError('column type conflict'), false],
      [new ConfigurationError('bad option'), false],
      [new ResourceDefinitionError('bad resource'), false],
      [new IncrementalCursorPathMissing('no cursor', { cursorPath: 'updated_at' }), false],
      [new TideError('anything else'), false],
    ];
    for (const [e, retryable] of cases) {
      expect({ type: e.name, retryable: e.retryable, nonRetryable: failure(e).nonRetryable }).toEqual({ type: e.name, retryable, nonRetryable: !retryable });
    }
  });

  it('passes errors that are not tide\'s through unchanged (Temporal retries them)', () => {
    const e = new TypeError('x is undefined');
    expect(toFailure(e)).toBe(e);
    expect(toFailure('a string')).toBe('a string');
  });
});

describe('activities fail as the error says', () => {
  // the failed activity is the point: keep the worker's warning about it out of the output
  const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

  it('an unknown pipeline fails without retry', async () => {
    const { extract } = createActivities([]);
    const err = await env().run(extract, { pipeline: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'UnknownPipeline', nonRetryable: true, message: 'No pipeline "nope" on this worker (it has: )' });
  });

  it('a definition the pipeline rejects fails without retry', async () => {
    // not built with definePipeline (which would reject the empty name first): pipeline() throws
    // ConfigurationError while the activity opens it
    const def = { name: '', source: () => [] } as PipelineDefinition;
    const { load } = createActivities([def]);
    const err = await env().run(load, { pipeline: '', loadId: '1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'ConfigurationError', nonRetryable: true, message: 'pipeline() needs a pipelineName' });
  });
});
