import assert from 'node:assert/strict';
import { parseConfig, upstreamFingerprint, validateConfig } from '../../src/core/config/config';
import { issuesOf } from '../support/configIssues';


describe('config', function () {
  it("reads VS Code's mcp.json with comments and trailing commas", function () {
    const config = parseConfig(
      `{
        // VS Code allows comments here
        "servers": {
          "fs": { "type": "stdio", "command": "npx", "args": ["-y", "server-fs", "\${userHome}/docs"], },
          "web": { "type": "http", "url": "http://127.0.0.1:9000/mcp", "headers": { "x-key": "\${env:WEB_KEY}" } },
          "old": { "type": "sse", "url": "http://127.0.0.1:9001/sse", "timeout": 5000 },
        },
        "inputs": [],
      }`,
      'mcp.json',
      { env: { HOME: '/home/ann', WEB_KEY: 'k1' } },
    );
    assert.deepEqual([...config.upstreams.keys()], ['fs', 'web', 'old']);
    const fs = config.upstreams.get('fs');
    assert.equal(fs?.type, 'stdio');
    assert.deepEqual(fs?.type === 'stdio' && fs.args, ['-y', 'server-fs', '/home/ann/docs']);
    const web = config.upstreams.get('web');
    assert.deepEqual(web?.type === 'http' && web.headers, { 'x-key': 'k1' });
    assert.equal(config.upstreams.get('old')?.timeoutMs, 5000);
    assert.equal(fs?.timeoutMs, 60_000);
  });

  it("accepts Claude's mcpServers, with stdio implied by command, and perSessionClient", function () {
    const config = validateConfig({ mcpServers: { pw: { command: 'node', args: ['pw.js'], perSessionClient: true } } }, 'claude.json');
    const pw = config.upstreams.get('pw');
    assert.equal(pw?.type, 'stdio');
    assert.deepEqual(pw?.perSession, { warm: 1, maxInstances: 8, idleTimeoutMs: 300_000 });
  });

  it('lists every problem with its JSON path, not just the first', function () {
    const issues = issuesOf(() =>
      validateConfig(
        {
          servers: {
            a: { type: 'stdio' },
            b: { type: 'http', url: 'not a url' },
            c: { type: 'websocket', url: 'ws://x' },
            'bad id!': { command: 'x' },
          },
          virtualServers: { v: { upstreams: ['a', 'zzz'], tools: { include: ['*'], exlude: ['x'] } } },
          hub: { sessionIdleTimeout: -5 },
        },
        'hub.json',
      ),
    );
    const paths = issues.map((i) => i.path);
    for (const expected of ['servers.a.command', 'servers.b.url', 'servers.c.type', 'virtualServers.v.tools', 'hub.sessionIdleTimeout']) {
      assert.ok(paths.includes(expected), `missing ${expected} in ${paths.join(', ')}`);
    }
  });

  it("names a safe-mode rule's bad argument pointer by its JSON path", function () {
    const issues = issuesOf(() =>
      validateConfig({ servers: { fs: { command: 'x', safeMode: { tools: { move: { idArguments: ['/ok/*/id', '/batch//id', 'a/b'] } } } } } }, 'hub.json'),
    );
    assert.deepEqual(
      issues.map((i) => i.path),
      ['servers.fs.safeMode.tools.move.idArguments[1]', 'servers.fs.safeMode.tools.move.idArguments[2]'],
    );
    assert.match(issues[0]?.message ?? '', /property name or a JSON pointer/);
  });

  it('names unknown upstreams of a virtual server and the ones that exist', function () {
    const issues = issuesOf(() => validateConfig({ servers: { a: { command: 'x' } }, virtualServers: { v: { upstreams: ['a', 'zzz'] } } }, 'hub.json'));
    assert.deepEqual(issues, [{ path: 'virtualServers.v.upstreams[1]', message: "unknown upstream 'zzz' (defined: a)" }]);
  });

  it('refuses an id defined in both servers and mcpServers, and ids that cannot be names', function () {
    const issues = issuesOf(() => validateConfig({ servers: { a: { command: 'x' } }, mcpServers: { a: { command: 'y' }, 'x y': { command: 'z' } } }, 'f'));
    assert.deepEqual(issues.map((i) => i.path).sort(), ['mcpServers.a', 'mcpServers["x y"]']);
  });

  it('reports JSON syntax errors with line and column', function () {
    const issues = issuesOf(() => parseConfig('{\n  "servers": {\n    "a": { "command": "x" }\n  \n', 'broken.json'));
    assert.ok(issues.length > 0);
    assert.match(issues[0].path, /^line \d+, column \d+$/);
    assert.match(issues[0].message, /^JSON syntax:/);
  });

  it('mentions the file in the error message', function () {
    assert.throws(() => parseConfig('{"servers": 3}', '/etc/hub.json'), /\/etc\/hub.json: invalid hub config:\n {2}- servers: /);
  });

  it('normalizes virtual server selections: array shorthand, defaults to everything', function () {
    const config = validateConfig({ servers: { a: { command: 'x' } }, virtualServers: { v: { upstreams: ['a'], tools: ['a/x*'] } } }, 'f');
    const v = config.virtualServers.get('v');
    assert.deepEqual(v?.tools, { include: ['a/x*'], exclude: [] });
    assert.deepEqual(v?.prompts, { include: ['*'], exclude: [] });
    assert.equal(v?.naming, 'prefixed');
    assert.equal(v?.title, 'v');
  });

  it('skips disabled upstreams', function () {
    const config = validateConfig({ servers: { a: { command: 'x', disabled: true }, b: { command: 'y' } } }, 'f');
    assert.deepEqual([...config.upstreams.keys()], ['b']);
  });

  it('fingerprints upstreams by their whole config, nested fields included', function () {
    const one = validateConfig({ servers: { a: { command: 'x', env: { A: '1' } } } }, 'f').upstreams.get('a');
    const same = validateConfig({ servers: { a: { env: { A: '1' }, command: 'x' } } }, 'f').upstreams.get('a');
    const other = validateConfig({ servers: { a: { command: 'x', env: { A: '2' } } } }, 'f').upstreams.get('a');
    assert.ok(one && same && other);
    assert.equal(upstreamFingerprint(one), upstreamFingerprint(same));
    assert.notEqual(upstreamFingerprint(one), upstreamFingerprint(other));
  });
});
