import assert from 'node:assert/strict';
import { globalView, ScopedCatalog, virtualServerView, type UpstreamCatalog } from '../../src/core/scoping/catalog';
import { validateConfig } from '../../src/core/config/config';
import { globToRegExp } from '../../src/core/scoping/glob';
import { exposedName, maxNameLength } from '../../src/core/scoping/naming';

const tool = (name: string) => ({ name, inputSchema: { type: 'object' as const } });

function catalog(partial: Partial<UpstreamCatalog>): UpstreamCatalog {
  return { tools: [], resources: [], resourceTemplates: [], prompts: [], ...partial };
}

function view(json: object) {
  const config = validateConfig({ servers: { a: { command: 'x' }, b: { command: 'y' } }, virtualServers: { v: json } }, 'test');
  const vs = config.virtualServers.get('v');
  assert.ok(vs);
  return virtualServerView(vs);
}

describe('naming', function () {
  it('prefixes with the upstream id and a double underscore', function () {
    assert.equal(exposedName('github', 'search', 'prefixed'), 'github__search');
    assert.equal(exposedName('github', 'search', 'bare'), 'search');
  });

  it('keeps names to [A-Za-z0-9_.-] and 64 characters, and long names distinct', function () {
    assert.equal(exposedName('up', 'say hello/now', 'prefixed'), 'up__say_hello_now');
    const long1 = exposedName('upstream', `${'x'.repeat(80)}1`, 'prefixed');
    const long2 = exposedName('upstream', `${'x'.repeat(80)}2`, 'prefixed');
    assert.equal(long1.length, maxNameLength);
    assert.match(long1, /^[A-Za-z0-9_.-]+$/);
    assert.notEqual(long1, long2);
  });
});

describe('glob', function () {
  it('matches upstream/name with * and ?, and a bare pattern in any upstream', function () {
    assert.ok(globToRegExp('a/create_*').test('a/create_item'));
    assert.ok(!globToRegExp('a/create_*').test('b/create_item'));
    assert.ok(globToRegExp('search').test('b/search'));
    assert.ok(globToRegExp('a/get_?').test('a/get_x'));
    assert.ok(globToRegExp('a/file:///docs/*').test('a/file:///docs/x/y.md'));
    assert.ok(!globToRegExp('a/x.y').test('a/xzy'), 'dots are literal');
  });
});

describe('scoped catalog', function () {
  const catalogs = new Map([
    ['a', catalog({ tools: [tool('search'), tool('create'), tool('delete')], prompts: [{ name: 'p' }] })],
    ['b', catalog({ tools: [tool('search'), tool('fetch')], resources: [{ uri: 'file:///x', name: 'x' }] })],
  ]);

  it('selects by include and exclude globs per upstream', function () {
    const scoped = new ScopedCatalog(view({ upstreams: ['a', 'b'], tools: { include: ['a/*', 'b/fetch'], exclude: ['*/delete'] } }), catalogs);
    assert.deepEqual(scoped.tools.map((t) => t.name), ['a__search', 'a__create', 'b__fetch']);
    const route = scoped.resolveTool('b__fetch');
    assert.deepEqual(route && { upstream: route.upstream, name: route.name }, { upstream: 'b', name: 'fetch' });
    assert.equal(scoped.resolveTool('a__delete'), undefined);
    assert.equal(scoped.resolveTool('b__search'), undefined);
  });

  it('never sees upstreams it does not name', function () {
    const scoped = new ScopedCatalog(view({ upstreams: ['a'] }), catalogs);
    assert.deepEqual(scoped.tools.map((t) => t.name), ['a__search', 'a__create', 'a__delete']);
    assert.deepEqual(scoped.resources, []);
    assert.equal(scoped.resolveResource('file:///x'), undefined);
  });

  it('exposes bare names when they do not collide, and withholds both sides of a collision', function () {
    const clean = new ScopedCatalog(view({ upstreams: ['a', 'b'], tools: ['a/create', 'b/fetch'], naming: 'bare' }), catalogs);
    assert.deepEqual(clean.tools.map((t) => t.name), ['create', 'fetch']);
    assert.deepEqual(clean.problems, []);
    const clash = new ScopedCatalog(view({ upstreams: ['a', 'b'], naming: 'bare' }), catalogs);
    assert.ok(!clash.tools.some((t) => t.name === 'search'));
    assert.equal(clash.resolveTool('search'), undefined);
    assert.deepEqual(clash.problems, [
      "virtual server 'v': tool name 'search' is exposed by both 'a/search' and 'b/search'; neither is served (use naming \"prefixed\" or exclude one)",
    ]);
  });

  it('routes template reads to the upstream whose template matches', function () {
    const withTemplates = new Map([
      ['a', catalog({ resourceTemplates: [{ name: 'issue', uriTemplate: 'gh://issues/{n}' }] })],
      ['b', catalog({ resourceTemplates: [{ name: 'doc', uriTemplate: 'docs://{path}' }] })],
    ]);
    const scoped = new ScopedCatalog(globalView(['a', 'b']), withTemplates);
    assert.deepEqual(scoped.resolveResource('gh://issues/7'), { upstream: 'a', name: 'gh://issues/7' });
    assert.deepEqual(scoped.resolveResource('docs://readme'), { upstream: 'b', name: 'docs://readme' });
    assert.equal(scoped.resolveResource('other://x'), undefined);
    assert.deepEqual(scoped.resolveResourceReference('docs://{path}'), { upstream: 'b', name: 'docs://{path}' });
  });

  it('changes its fingerprint only for the categories that changed', function () {
    const before = new ScopedCatalog(globalView(['a', 'b']), catalogs);
    const changed = new Map(catalogs);
    changed.set('b', catalog({ ...catalogs.get('b'), tools: [tool('search')] }));
    const after = new ScopedCatalog(globalView(['a', 'b']), changed);
    assert.notEqual(before.fingerprints.tools, after.fingerprints.tools);
    assert.equal(before.fingerprints.resources, after.fingerprints.resources);
    assert.equal(before.fingerprints.prompts, after.fingerprints.prompts);
  });
});
