import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, runCliToExit, startCli } from '../support/cli';
import { connectClient, isAlive, tempDir, waitFor } from '../support/hubHarness';
import { initializeBody, rawRequest } from '../support/rawHttp';

describe('the mcp-session-hub CLI as a newcomer meets it', function () {
  this.timeout(60_000);

  it('answers --help on every command with that command\'s usage and exit code 0', async function () {
    const cases: [string[], RegExp][] = [
      [['--help'], /mcp-session-hub serve/],
      [['-h'], /mcp-session-hub serve/],
      [['help'], /mcp-session-hub serve/],
      [['serve', '--help'], /--config FILE/],
      [['serve', '-h'], /--config FILE/],
      [['serve', '--port', '0', '--help'], /--config FILE/],
      [['import', '--help'], /Import options:/],
      [['help', 'import'], /Import options:/],
      [['schema', '--help'], /mcp-session-hub schema/],
    ];
    for (const [args, usage] of cases) {
      const run = await runCliToExit(args);
      assert.equal(run.code, 0, `${args.join(' ')}: exit ${run.code}: ${run.stderr}`);
      assert.match(run.stdout, /^Usage:|\nUsage:/, `${args.join(' ')} printed no usage: ${run.stdout.slice(0, 200)}`);
      assert.match(run.stdout, usage, args.join(' '));
      assert.equal(run.stderr, '', args.join(' '));
    }
  });

  it('prints usage, and neither serves nor writes a token, when run with no command', async function () {
    const home = tempDir();
    const run = await runCliToExit([], { HOME: home });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /no command given/);
    assert.match(run.stderr, /Usage:[\s\S]*mcp-session-hub serve/);
    assert.equal(existsSync(join(home, '.mcp-session-hub')), false, 'token files were written to the home folder');
  });

  it('refuses an unknown command and an argument schema does not take, with usage and exit code 2', async function () {
    for (const args of [['serv'], ['schema', '--out', 'x.json']]) {
      const run = await runCliToExit(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, /Usage:/, args.join(' '));
      assert.equal(run.stdout, '', args.join(' '));
    }
  });
});

describe('the mcp-session-hub CLI', function () {
  this.timeout(30_000);

  it('serves the embedded demo, keeps private client and admin token files, and exits 0 on SIGTERM leaving no child', async function () {
    const dir = tempDir();
    const tokenFile = join(dir, 'state', 'token');
    const adminTokenFile = join(dir, 'state', 'admin-token');
    const run = startCli(['serve', '--port', '0', '--json', '--token-file', tokenFile]);
    try {
      const ready = await run.ready;
      assert.equal(ready.event, 'ready');
      assert.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(ready.tokenFile, tokenFile);
      assert.equal(ready.adminTokenFile, adminTokenFile, 'the admin token file, next to the token file');
      assert.deepEqual(Object.keys(ready.endpoints).sort(), ['editor', 'global', 'reader']);
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      assert.equal(statSync(adminTokenFile).mode & 0o777, 0o600);
      const token = readFileSync(tokenFile, 'utf8').trim();
      const adminToken = readFileSync(adminTokenFile, 'utf8').trim();
      assert.ok(token.length >= 43, '256 bits, base64url');
      assert.ok(adminToken.length >= 43, '256 bits, base64url');
      assert.notEqual(adminToken, token);

      // The client token is refused on the admin API, the admin token on MCP endpoints.
      assert.equal((await rawRequest(`${ready.url}/admin/state`, { headers: { authorization: `Bearer ${token}` } })).status, 403);
      assert.equal((await rawRequest(`${ready.url}/mcp`, { method: 'POST', body: initializeBody, headers: { authorization: `Bearer ${adminToken}` } })).status, 403);

      let demoPid: number | undefined;
      await waitFor(async () => {
        const state = JSON.parse((await rawRequest(`${ready.url}/admin/state`, { headers: { authorization: `Bearer ${adminToken}` } })).body);
        demoPid = state.upstreams[0]?.state === 'ready' ? state.upstreams[0].pid : undefined;
        return demoPid !== undefined;
      }, 10_000, 'the demo upstream');
      const client = await connectClient(ready.url, { virtualServer: 'reader', token });
      const tools = (await client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(tools, ['count_slowly', 'echo', 'get_item', 'list_items']);
      await client.close();

      run.child.kill('SIGTERM');
      assert.equal(await run.exit, 0);
      assert.ok(demoPid && !isAlive(demoPid), 'the demo upstream outlived the hub');
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
  });

  it('reuses both token files on the next start', async function () {
    const dir = tempDir();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'kept-token-from-last-time\n', { mode: 0o600 });
    writeFileSync(join(dir, 'admin-token'), 'kept-admin-token\n', { mode: 0o600 });
    const run = startCli(['serve', '--port', '0', '--json', '--token-file', tokenFile]);
    try {
      const ready = await run.ready;
      const ok = await rawRequest(`${ready.url}/admin/state`, { auth: false, headers: { authorization: 'Bearer kept-admin-token' } });
      assert.equal(ok.status, 200);
      const mcp = await rawRequest(`${ready.url}/mcp`, { method: 'POST', body: initializeBody, auth: false, headers: { authorization: 'Bearer kept-token-from-last-time' } });
      assert.equal(mcp.status, 200);
    } finally {
      run.child.kill('SIGINT');
      assert.equal(await run.exit, 0);
    }
  });

  it('keeps an existing client token file unchanged and adds the admin token file next to it', async function () {
    const dir = tempDir();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'token-from-before-two-tokens\n', { mode: 0o600 });
    const run = startCli(['serve', '--port', '0', '--json', '--token-file', tokenFile]);
    try {
      const ready = await run.ready;
      assert.equal(readFileSync(tokenFile, 'utf8'), 'token-from-before-two-tokens\n');
      assert.equal(ready.adminTokenFile, join(dir, 'admin-token'));
      assert.equal(statSync(join(dir, 'admin-token')).mode & 0o777, 0o600);
      const mcp = await rawRequest(`${ready.url}/mcp`, { method: 'POST', body: initializeBody, auth: false, headers: { authorization: 'Bearer token-from-before-two-tokens' } });
      assert.equal(mcp.status, 200);
    } finally {
      run.child.kill('SIGINT');
      assert.equal(await run.exit, 0);
    }
  });

  it('takes the admin token from --admin-token, $MCP_SESSION_HUB_ADMIN_TOKEN or --admin-token-file, and writes no file then', async function () {
    const dir = tempDir();
    const adminTokenFile = join(dir, 'elsewhere', 'admin');
    const ways: { args: string[]; env?: NodeJS.ProcessEnv; adminToken?: string; adminTokenFile: string | null }[] = [
      { args: ['--admin-token', 'admin-from-flag'], adminToken: 'admin-from-flag', adminTokenFile: null },
      { args: [], env: { MCP_SESSION_HUB_ADMIN_TOKEN: 'admin-from-env' }, adminToken: 'admin-from-env', adminTokenFile: null },
      { args: ['--admin-token-file', adminTokenFile], adminTokenFile },
    ];
    for (const way of ways) {
      const run = startCli(['serve', '--port', '0', '--json', '--token', 'client-from-flag', '--token-file', join(dir, 'token'), ...way.args], way.env);
      try {
        const ready = await run.ready;
        assert.equal(ready.tokenFile, null);
        assert.equal(ready.adminTokenFile, way.adminTokenFile);
        const adminToken = way.adminToken ?? readFileSync(adminTokenFile, 'utf8').trim();
        assert.equal((await rawRequest(`${ready.url}/admin/state`, { auth: false, headers: { authorization: `Bearer ${adminToken}` } })).status, 200, way.args.join(' '));
      } finally {
        run.child.kill('SIGINT');
        assert.equal(await run.exit, 0);
      }
    }
    assert.equal(statSync(adminTokenFile).mode & 0o777, 0o600);
    assert.ok(!existsSync(join(dir, 'token')) && !existsSync(join(dir, 'admin-token')), 'a token file was written for a given token');
  });

  it('refuses to start with exit code 2 when the admin token equals the client token', async function () {
    const dir = tempDir();
    writeFileSync(join(dir, 'token'), 'one-token\n', { mode: 0o600 });
    writeFileSync(join(dir, 'admin-token'), 'one-token\n', { mode: 0o600 });
    for (const args of [['--token', 'same', '--admin-token', 'same'], ['--token-file', join(dir, 'token')]]) {
      const run = startCli(['serve', '--port', '0', '--json', ...args]);
      run.ready.catch(() => undefined);
      assert.equal(await run.exit, 2, args.join(' '));
      assert.match(run.stderr(), /the admin token must differ from the client token/);
    }
  });

  it('names the admin token file next to the admin URL in the banner', async function () {
    const dir = tempDir();
    const child = spawn(process.execPath, [cliPath, 'serve', '--port', '0', '--token-file', join(dir, 'token')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let banner = '';
      child.stdout.on('data', (chunk: Buffer) => (banner += chunk.toString()));
      await waitFor(() => banner.includes('Ctrl+C'), 10_000, 'the banner');
      const lines = banner.split('\n');
      const admin = lines.findIndex((line) => /^  admin +http:\/\/127\.0\.0\.1:\d+\/admin\/state$/.test(line));
      assert.ok(admin >= 0, banner);
      assert.ok(lines[admin + 1].startsWith(`  admin token    in ${join(dir, 'admin-token')} `), banner);
      assert.ok(lines.some((line) => line.startsWith('  client token') && line.includes(join(dir, 'token'))), banner);
    } finally {
      child.kill('SIGINT');
      assert.equal(await exit, 0);
    }
  });

  it('refuses an invalid config file with exit code 2 and every problem by JSON path', async function () {
    const config = join(tempDir(), 'hub.json');
    writeFileSync(config, JSON.stringify({ servers: { a: { type: 'http' } }, virtualServers: { v: { upstreams: ['nope'] } } }));
    const run = startCli(['serve', '--port', '0', '--config', config, '--token', 't', '--admin-token', 'a']);
    run.ready.catch(() => undefined);
    assert.equal(await run.exit, 2);
    assert.match(run.stderr(), /hub\.json: invalid hub config/);
    assert.match(run.stderr(), /servers\.a\.url: /);
  });

  it('explains a bad flag with usage and exit code 2', async function () {
    const run = startCli(['serve', '--port', 'eighty']);
    run.ready.catch(() => undefined);
    assert.equal(await run.exit, 2);
    assert.match(run.stderr(), /--port must be a whole number/);
    assert.match(run.stderr(), /Usage:/);
  });
  it('prints its ready line only once every upstream has had its first try: an immediate tools/list has every tool', async function () {
    const dir = tempDir();
    const config = join(dir, 'hub.json');
    const server = (name: string) => require.resolve(`@modelcontextprotocol/server-${name}/dist/index.js`);
    writeFileSync(
      config,
      JSON.stringify({
        servers: {
          everything: { command: process.execPath, args: [server('everything'), 'stdio'] },
          memory: { command: process.execPath, args: [server('memory')], env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') } },
          demo: { command: process.execPath, args: [join(__dirname, '..', '..', 'src', 'demo', 'demoServer.js')] },
        },
      }),
    );
    const run = startCli(['serve', '--config', config, '--port', '0', '--json', '--token', 'client-token-0123456789', '--admin-token', 'admin-token-0123456789']);
    try {
      const ready = await run.ready;
      const client = await connectClient(ready.url, { token: 'client-token-0123456789' });
      try {
        const tools = (await client.listTools()).tools.map((t) => t.name);
        const state = JSON.parse((await rawRequest(`${ready.url}/admin/state`, { headers: { authorization: 'Bearer admin-token-0123456789' } })).body) as {
          upstreams: { id: string; state: string; counts: { tools: number } }[];
        };
        for (const upstream of state.upstreams) {
          assert.equal(upstream.state, 'ready', upstream.id);
          assert.ok(upstream.counts.tools > 0, upstream.id);
          assert.equal(tools.filter((name) => name.startsWith(`${upstream.id}__`)).length, upstream.counts.tools, `${upstream.id}'s tools listed at once`);
        }
      } finally {
        await client.close();
      }
    } finally {
      run.child.kill('SIGTERM');
      await run.exit;
    }
  });
});
