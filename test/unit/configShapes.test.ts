import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { parseConfig, type ConfigContext, type HubConfig, type UpstreamConfig } from '../../src/core/config/config';
import { loadConfigFile } from '../../src/core/config/configFile';
import { exposedName } from '../../src/core/scoping/naming';
import { issuesOf } from '../support/configIssues';

/** The files as VS Code, Claude Desktop, Cursor and Claude Code write them. */
const vscodeMcpJson = `{
  // .vscode/mcp.json as the docs show it
  "inputs": [
    { "type": "promptString", "id": "github-token", "description": "GitHub Personal Access Token", "password": true },
    { "type": "pickString", "id": "level", "description": "Log level", "options": ["info", "debug"], "default": "info" }
  ],
  "servers": {
    "io.github.github/github-mcp-server": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": { "Authorization": "Bearer \${input:github-token}" }
    },
    "fs": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "\${workspaceFolder}", "--log=\${input:level}"],
      "envFile": ".env",
      "env": { "SHARED": "from-env", "DATA": "\${userHome}\${pathSeparator}data" },
      "cwd": "\${workspaceFolder}"
    },
  },
}`;

const claudeDesktopJson = `{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/ann/Desktop"]
    },
    "memory": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"], "env": { "MEMORY_FILE_PATH": "/tmp/m.json" } }
  }
}`;

const cursorJson = `{
  "mcpServers": {
    "remote-server": { "url": "http://localhost:3000/mcp", "headers": { "API_KEY": "\${env:CURSOR_KEY}" } },
    "local": { "command": "python", "args": ["server.py"], "env": { "API_KEY": "k" } }
  }
}`;

const claudeCodeJson = `{
  "numStartups": 12,
  "projects": { "/home/ann/app": { "mcpServers": { "proj": { "type": "stdio", "command": "node", "args": ["p.js"], "env": {} } } } },
  "mcpServers": {
    "sentry": { "type": "http", "url": "https://mcp.sentry.dev/mcp" },
    "linear": { "type": "sse", "url": "https://mcp.linear.app/sse" },
    "db": { "type": "stdio", "command": "npx", "args": ["-y", "db-mcp"], "env": { "DB_URL": "\${DB_URL}", "LEVEL": "\${LOG_LEVEL:-warn}" } }
  }
}`;


/** Every string of a config an upstream would be started with. */
function stringsOf(upstream: UpstreamConfig): string[] {
  const out: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === 'string') out.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(upstream.type === 'stdio' ? [upstream.command, upstream.args, upstream.env, upstream.cwd] : [upstream.url, upstream.headers]);
  return out;
}

describe('config files as VS Code, Claude and Cursor write them', function () {
  let dir: string;
  const env = { HOME: '/home/ann', PATH: '/usr/bin' };
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'hub-config-shapes-'));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  function load(name: string, text: string, context: ConfigContext): HubConfig {
    const path = join(dir, name);
    writeFileSync(path, text);
    return loadConfigFile(path, { env, ...context });
  }

  describe("VS Code's mcp.json", function () {
    it('resolves inputs, envFile (relative to the file, env wins), workspaceFolder, userHome and pathSeparator', function () {
      writeFileSync(join(dir, '.env'), '# dotenv\nSHARED=from-file\nFROM_FILE="quoted value"\nexport EXPORTED=yes\n');
      const config = load('mcp.json', vscodeMcpJson, { workspaceFolder: '/work/app', inputs: { 'github-token': 'ghp_1' } });
      const github = config.upstreams.get('io.github.github/github-mcp-server');
      assert.ok(github?.type === 'http');
      assert.equal(github.cannotStart, undefined);
      assert.deepEqual(github.headers, { Authorization: 'Bearer ghp_1' });
      assert.equal(github.sseFallback, undefined, 'an explicit type is kept as written');
      assert.deepEqual(github.inputs, ['github-token']);
      const fs = config.upstreams.get('fs');
      assert.ok(fs?.type === 'stdio');
      assert.equal(fs.cannotStart, undefined);
      assert.deepEqual(fs.args, ['-y', '@modelcontextprotocol/server-filesystem', '/work/app', '--log=info'], 'a pickString falls back to its default');
      assert.deepEqual(fs.env, { SHARED: 'from-env', FROM_FILE: 'quoted value', EXPORTED: 'yes', DATA: `/home/ann${sep}data` });
      assert.equal(fs.cwd, '/work/app');
      assert.deepEqual([...config.inputs.keys()], ['github-token', 'level']);
      for (const upstream of config.upstreams.values()) for (const text of stringsOf(upstream)) assert.ok(!text.includes('${'), text);
    });

    it('reads an input from MCP_SESSION_HUB_INPUT_<ID>; a given value wins', function () {
      writeFileSync(join(dir, '.env'), '');
      const fromEnv = load('mcp.json', vscodeMcpJson, { workspaceFolder: '/w', env: { ...env, MCP_SESSION_HUB_INPUT_GITHUB_TOKEN: 'ghp_env' } });
      const github = fromEnv.upstreams.get('io.github.github/github-mcp-server');
      assert.deepEqual(github?.type === 'http' && github.headers, { Authorization: 'Bearer ghp_env' });
      const given = load('mcp.json', vscodeMcpJson, { workspaceFolder: '/w', inputs: { 'github-token': 'ghp_flag' }, env: { ...env, MCP_SESSION_HUB_INPUT_GITHUB_TOKEN: 'ghp_env' } });
      const again = given.upstreams.get('io.github.github/github-mcp-server');
      assert.deepEqual(again?.type === 'http' && again.headers, { Authorization: 'Bearer ghp_flag' });
    });

    it('does not start an upstream whose input has no value, and says which input, where and how to give it', function () {
      writeFileSync(join(dir, '.env'), '');
      const config = load('mcp.json', vscodeMcpJson, { workspaceFolder: '/w' });
      const github = config.upstreams.get('io.github.github/github-mcp-server');
      assert.equal(
        github?.cannotStart,
        `input 'github-token' has no value (\${input:github-token} at servers["io.github.github/github-mcp-server"].headers.Authorization): set MCP_SESSION_HUB_INPUT_GITHUB_TOKEN or pass --input github-token=VALUE`,
      );
      assert.equal(config.upstreams.get('fs')?.cannotStart, undefined, 'the other upstream is not held back');
    });

    it('does not start an upstream whose envFile cannot be read or whose workspace folder is unknown', function () {
      const config = load('mcp.json', vscodeMcpJson, { inputs: { 'github-token': 't' } });
      const problem = config.upstreams.get('fs')?.cannotStart ?? '';
      assert.match(problem, new RegExp(`envFile ${join(dir, '.env').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} at servers\\.fs\\.envFile cannot be read`));
      assert.match(problem, /\$\{workspaceFolder\} at servers\.fs\.args\[2\]: no workspace folder is open/);
    });

    it('refuses unknown variables and undeclared inputs with their JSON path, and keeps nothing literal', function () {
      const issues = issuesOf(() =>
        parseConfig(
          JSON.stringify({
            inputs: [{ type: 'promptString', id: 'a' }],
            servers: {
              x: { command: 'node', args: ['${config:editor.fontSize}'], env: { K: '${input:b}' } },
              y: { url: 'http://h/mcp', headers: { 'x-file': '${file}' } },
            },
          }),
          '/etc/mcp.json',
          { env },
        ),
      );
      assert.deepEqual(issues, [
        { path: 'servers.x.args[0]', message: issues[0].message },
        { path: 'servers.x.env.K', message: `\${input:b}: input 'b' is not declared in "inputs" (declared: a)` },
        { path: 'servers.y.headers.x-file', message: issues[2].message },
      ]);
      assert.match(issues[0].message, /^\$\{config:editor\.fontSize\}: unsupported variable/);
      assert.match(issues[2].message, /^\$\{file\}: unsupported variable/);
    });

    it('holds back, rather than refuses, an upstream whose roots or envFile wait for a value', function () {
      const config = parseConfig(
        JSON.stringify({ servers: { s: { command: 'node', envFile: '\${env:CONF_DIR}/.env', roots: ['\${workspaceFolder}/src'] } } }),
        '/etc/mcp.json',
        { env },
      );
      const problem = config.upstreams.get('s')?.cannotStart ?? '';
      assert.match(problem, /\$\{env:CONF_DIR\} at servers\.s\.envFile: the environment variable CONF_DIR is not set/);
      assert.match(problem, /\$\{workspaceFolder\} at servers\.s\.roots\[0\]: no workspace folder is open/);
      assert.doesNotMatch(problem, /cannot be read/);
    });

    it('refuses command inputs, which need VS Code to run', function () {
      const issues = issuesOf(() => parseConfig('{"inputs": [{"type": "command", "id": "c", "command": "x"}], "servers": {}}', 'mcp.json'));
      assert.equal(issues[0].path, 'inputs[0].type');
    });
  });

  it("reads Claude Desktop's claude_desktop_config.json", function () {
    const config = load('claude_desktop_config.json', claudeDesktopJson, {});
    assert.deepEqual([...config.upstreams.keys()], ['filesystem', 'memory']);
    const memory = config.upstreams.get('memory');
    assert.deepEqual(memory?.type === 'stdio' && memory.env, { MEMORY_FILE_PATH: '/tmp/m.json' });
  });

  it("reads Cursor's mcp.json: a url-only entry is Streamable HTTP falling back to SSE", function () {
    const config = load('mcp.json', cursorJson, { env: { ...env, CURSOR_KEY: 'c1' } });
    const remote = config.upstreams.get('remote-server');
    assert.ok(remote?.type === 'http');
    assert.equal(remote.sseFallback, true);
    assert.deepEqual(remote.headers, { API_KEY: 'c1' });
    assert.equal(config.upstreams.get('local')?.type, 'stdio');
  });

  it('does not start an upstream whose ${env:NAME} is unset, rather than send an empty value', function () {
    const config = load('mcp.json', cursorJson, {});
    assert.equal(config.upstreams.get('remote-server')?.cannotStart, '${env:CURSOR_KEY} at mcpServers.remote-server.headers.API_KEY: the environment variable CURSOR_KEY is not set');
  });

  it("reads Claude Code's ~/.claude.json: its user servers, with the rest of the file left alone, and its \${NAME:-default} syntax", function () {
    const config = load('.claude.json', claudeCodeJson, { env: { ...env, DB_URL: 'postgres://x' } });
    assert.deepEqual([...config.upstreams.keys()], ['sentry', 'linear', 'db']);
    assert.equal(config.upstreams.get('linear')?.type, 'sse');
    const db = config.upstreams.get('db');
    assert.deepEqual(db?.type === 'stdio' && db.env, { DB_URL: 'postgres://x', LEVEL: 'warn' });
  });

  it('accepts every spelling of Streamable HTTP, and refuses unknown types by path', function () {
    for (const type of ['http', 'streamable-http', 'streamableHttp']) {
      const upstream = parseConfig(JSON.stringify({ servers: { s: { type, url: 'http://127.0.0.1:1/mcp' } } }), 'f').upstreams.get('s');
      assert.equal(upstream?.type, 'http', type);
    }
    const issues = issuesOf(() => parseConfig('{"servers": {"s": {"type": "websocket", "url": "ws://x"}}}', 'f'));
    assert.equal(issues[0].path, 'servers.s.type');
    const badUrl = issuesOf(() => parseConfig('{"servers": {"s": {"url": "\${env:HOST}/mcp"}}}', 'f', { env: { HOST: 'not-a-host' } }));
    assert.deepEqual(badUrl.map((i) => i.path), ['servers.s.url']);
  });

  it('maps ids with dots and slashes to exposed names models accept, and refuses two ids with one name', function () {
    assert.equal(exposedName('io.github.github/github-mcp-server', 'search', 'prefixed'), 'io_github_github_github-mcp-server__search');
    const issues = issuesOf(() => parseConfig('{"servers": {"a.b": {"command": "x"}, "a_b": {"command": "y"}}}', 'f'));
    assert.deepEqual(issues.map((i) => i.path), ['servers.a_b']);
  });
});
