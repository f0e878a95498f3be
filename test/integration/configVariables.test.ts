import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectClient, firstText, fixturesDir, readJsonLines, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';
import { spawnReady, type ReadyChild } from '../support/readyChild';

const launchEchoFixture = join(fixturesDir, 'launchEchoFixture.js');

type Launch = { argv: string[]; env: Record<string, string>; cwd: string };
type HeaderLine = { method: string; path: string; headers: Record<string, string> };

/**
 * A VS Code-shaped mcp.json with every kind of variable, served by a real hub: what the fixture
 * upstreams receive (a child's argv, env and cwd; an HTTP server's headers) holds the values,
 * never `${…}` text, and the upstream whose input has no value is not started and says why.
 */
describe('config variables reach upstreams resolved', function () {
  this.timeout(60_000);
  let dir: string;
  let sseServer: ReadyChild;
  let hub: TestHub;
  let client: Client;
  let headerLog: string;

  before(async function () {
    dir = tempDir('hub-config-variables-');
    headerLog = join(dir, 'headers.jsonl');
    sseServer = await spawnReady(launchEchoFixture, ['--sse'], { env: { FIXTURE_HEADER_LOG: headerLog } });
    writeFileSync(join(dir, '.env'), 'FROM_ENV_FILE=file-value\nSHARED=from-file\n');
    const configPath = join(dir, 'mcp.json');
    writeFileSync(
      configPath,
      `{
        "inputs": [
          { "type": "promptString", "id": "tok", "description": "API token", "password": true },
          { "type": "promptString", "id": "absent", "description": "never given" }
        ],
        "servers": {
          "local.echo": {
            "type": "stdio",
            "command": ${JSON.stringify(process.execPath)},
            "args": [${JSON.stringify(launchEchoFixture)}, "--token=\${input:tok}", "\${workspaceFolder}\${pathSeparator}data"],
            "envFile": ".env",
            "env": { "SHARED": "from-env", "TOKEN": "\${input:tok}", "HOME_DIR": "\${userHome}" },
            "cwd": "\${workspaceFolder}"
          },
          "remote": { "url": ${JSON.stringify(sseServer.url)}, "headers": { "Authorization": "Bearer \${input:tok}" } },
          "held": { "command": ${JSON.stringify(process.execPath)}, "args": [${JSON.stringify(launchEchoFixture)}, "\${input:absent}"] }
        }
      }`,
    );
    hub = await startTestHub(undefined, {
      configPath,
      configContext: { env: { ...process.env, HOME: '/home/tester' }, inputs: { tok: 'secret-1' }, workspaceFolder: dir },
      waitForReady: false,
    });
    await waitFor(() => ['local.echo', 'remote'].every((id) => hub.hub.state().upstreams.find((u) => u.id === id)?.state === 'ready'), 20_000, 'both upstreams ready');
    client = await connectClient(hub.url);
  });

  after(async function () {
    await client?.close();
    await hub?.close();
    await sseServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives a stdio child its argv, env (envFile under env) and cwd with every variable's value", async function () {
    const launch = JSON.parse(firstText(await client.callTool({ name: 'local_echo__launch', arguments: {} }))) as Launch;
    assert.deepEqual(launch.argv, ['--token=secret-1', join(dir, 'data')]);
    assert.equal(launch.env.TOKEN, 'secret-1');
    assert.equal(launch.env.SHARED, 'from-env');
    assert.equal(launch.env.FROM_ENV_FILE, 'file-value');
    assert.equal(launch.env.HOME_DIR, '/home/tester');
    assert.equal(launch.cwd, dir);
    const leaked = [...launch.argv, ...Object.values(launch.env), launch.cwd].filter((text) => /\$\{(input|env|workspaceFolder|userHome|pathSeparator)/.test(text));
    assert.deepEqual(leaked, []);
  });

  it('sends an HTTP upstream its headers resolved, over SSE when a url-only entry is refused Streamable HTTP', async function () {
    const result = await client.callTool({ name: 'remote__launch', arguments: {} });
    assert.equal(result.isError, undefined);
    const lines = readJsonLines<HeaderLine>(headerLog);
    assert.ok(lines.some((line) => line.method === 'POST' && line.path === '/sse'), 'Streamable HTTP was tried first');
    assert.ok(lines.some((line) => line.method === 'GET' && line.path === '/sse'), 'then the SSE stream was opened');
    for (const line of lines) assert.equal(line.headers.authorization, 'Bearer secret-1', `${line.method} ${line.path}`);
  });

  it('does not start the upstream whose input has no value, and its error names the input', function () {
    const held = hub.hub.state().upstreams.find((u) => u.id === 'held');
    assert.equal(held?.state, 'failed');
    assert.match(held?.lastError ?? '', /input 'absent' has no value \(\$\{input:absent\} at servers\.held\.args\[1\]\): set MCP_SESSION_HUB_INPUT_ABSENT/);
    assert.equal(held?.pid, undefined);
  });
});
