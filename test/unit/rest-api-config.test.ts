/**
 * restApiSource config checks: a bad config fails when the source is defined, with a
 * ConfigurationError naming the resource and what is wrong, before any request is made.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, restApiSource, type EndpointResource, type RestApiConfig } from 'tide';
import { componentsOf } from '../../pipeline/plan.ts';

const base = 'http://127.0.0.1:1';
const withResources = (...resources: (string | EndpointResource)[]): RestApiConfig => ({ client: { baseUrl: base }, resources });

function definitionError(config: RestApiConfig): ConfigurationError {
  try {
    restApiSource(config);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    return e as ConfigurationError;
  }
  throw new Error('restApiSource accepted the config');
}

describe('restApiSource config checks', () => {
  it.each<[string, RestApiConfig, RegExp]>([
    ['no base URL', { client: { baseUrl: 'api.example.com' }, resources: ['a'] }, /client\.baseUrl must be an http\(s\) URL/],
    ['no resources', { client: { baseUrl: base }, resources: [] }, /resources must be a non-empty list/],
    ['a duplicate name', withResources('a', { name: 'a', endpoint: 'b' }), /resource "a" is defined twice/],
    ['an unknown paginator', withResources({ name: 'a', endpoint: { paginator: 'pages' as never } }), /Unknown paginator type "pages"/],
    ['an offset paginator without a limit', withResources({ name: 'a', endpoint: { paginator: { type: 'offset' } as never } }), /positive integer limit/],
    ['a page_number paginator that cannot stop', withResources({ name: 'a', endpoint: { paginator: { type: 'page_number', totalPath: null, stopAfterEmptyPage: false } } }), /needs one of totalPath/],
    ['a cursor both in a param and in the body', withResources({ name: 'a', endpoint: { paginator: { type: 'cursor', cursorParam: 'c', cursorBodyPath: 'page.c' } } }), /takes a param name or a body path, not both/],
    ['an unknown auth', { client: { baseUrl: base, auth: { type: 'magic' } as never }, resources: ['a'] }, /Unknown auth type "magic"/],
    ['an api_key auth without the key', { client: { baseUrl: base, auth: { type: 'api_key' } as never }, resources: ['a'] }, /api_key auth needs apiKey/],
    ['an unknown placeholder', withResources({ name: 'a', endpoint: 'things/{id}' }), /resource "a" uses placeholder \{id\}/],
    ['two parents', withResources('p', 'q', { name: 'a', endpoint: 'p/{resources.p.id}/q/{resources.q.id}' }), /resource "a" depends on several resources \(p, q\)/],
    ['includeFromParent without a parent', withResources({ name: 'a', includeFromParent: ['id'] }), /resource "a" has includeFromParent but no parent/],
    ['two incrementals', withResources({ name: 'a', endpoint: { params: { s: { type: 'incremental', cursorPath: 'x' }, t: { type: 'incremental', cursorPath: 'y' } } } }), /resource "a" has more than one incremental/],
    ['an unknown param type', withResources({ name: 'a', endpoint: { params: { s: { type: 'magic' } } } }), /param "s" of resource "a" has type "magic"/],
    ['an ignore action matching everything', withResources({ name: 'a', endpoint: { responseActions: [{ action: 'ignore' }] } }), /needs a statusCode or a content/],
  ])('%s', (_what, config, message) => {
    expect(definitionError(config).message).toMatch(message);
  });

  it('resource defaults merge under each resource, nested objects key by key', () => {
    const src = restApiSource({
      client: { baseUrl: base },
      resourceDefaults: { primaryKey: 'id', writeDisposition: 'merge', endpoint: { params: { per_page: 100, state: 'all' } } },
      resources: ['issues', { name: 'events', writeDisposition: 'append', endpoint: { params: { state: 'open' } } }],
    });
    expect(src.name).toBe('rest_api');
    expect(Object.keys(src.resources)).toEqual(['issues', 'events']);
    expect([src.resources.issues.options.primaryKey, src.resources.issues.options.writeDisposition]).toEqual(['id', 'merge']);
    expect([src.resources.events.options.primaryKey, src.resources.events.options.writeDisposition]).toEqual(['id', 'append']);
    expect(src.resources.issues.kind).toBe('resource');
  });

  it('a dependent resource is a transformer of its parent; the incremental param is a tide incremental', () => {
    const src = restApiSource(
      withResources(
        { name: 'issues', endpoint: { params: { since: { type: 'incremental', cursorPath: 'updated_at', initialValue: '2024-01-01T00:00:00Z', rowOrder: 'asc' } } } },
        { name: 'comments', endpoint: 'issues/{resources.issues.number}/comments' },
      ),
    );
    expect(src.resources.comments.kind).toBe('transformer');
    expect(src.resources.comments.dataFrom).toBe(src.resources.issues);
    expect(src.resources.issues.incremental?.cursorPath).toBe('updated_at');
    expect(src.resources.issues.incremental?.options).toEqual({ initialValue: '2024-01-01T00:00:00Z', rowOrder: 'asc' });
  });

  it('decompose: a parent and its children are one component, an independent endpoint another', () => {
    const src = restApiSource(withResources('issues', { name: 'comments', endpoint: 'issues/{resources.issues.number}/comments' }, 'users', { name: 'events', endpoint: { params: { issue: { type: 'resolve', resource: 'issues', field: 'id' } } } }));
    expect(componentsOf(src, 'p')).toEqual([
      { name: 'issues', resources: ['issues', 'comments', 'events'] },
      { name: 'users', resources: ['users'] },
    ]);
  });
});
