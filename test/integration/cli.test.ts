import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connectClient, isAlive, tempDir, waitFor } from '../support/hubHarness';
import { rawRequest } from '../support/rawHttp';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

type Ready = { event: string; url: string; tokenFile: string | null; endpoints: Record<string, string>; pid: number };

function startCli(args: string[]): { child: ChildProcess; ready: Promise<Ready>; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<Ready>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve(JSON.parse(line) as Ready));
    void exit.then((code) => reject(new Error(`cli exited with ${code}: ${stderr}`)));
  });
  return { child, ready, stderr: () => stderr, exit };
}

describe('the mcp-session-hub CLI', function () {
  this.timeout(30_000);

  it('serves the embedded demo, keeps a private token file, and exits 0 on SIGTERM leaving no child', async function () {
    const dir = tempDir();
    const tokenFile = join(dir, 'state', 'token');
    const run = startCli(['serve', '--port', '0', '--json', '--token-file', tokenFile]);
    try {
      const ready = await run.ready;
      assert.equal(ready.event, 'ready');
      assert.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(ready.tokenFile, tokenFile);
      assert.deepEqual(Object.keys(ready.endpoints).sort(), ['editor', 'global', 'reader']);
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      const token = readFileSync(tokenFile, 'utf8').trim();
      assert.ok(token.length >= 32);

      let demoPid: number | undefined;
      await waitFor(async () => {
        const state = JSON.parse((await rawRequest(`${ready.url}/admin/state`, { headers: { authorization: `Bearer ${token}` } })).body);
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

  it('reuses the token file on the next start', async function () {
    const tokenFile = join(tempDir(), 'token');
    writeFileSync(tokenFile, 'kept-token-from-last-time\n', { mode: 0o600 });
    const run = startCli(['serve', '--port', '0', '--json', '--token-file', tokenFile]);
    try {
      const ready = await run.ready;
      const ok = await rawRequest(`${ready.url}/admin/state`, { auth: false, headers: { authorization: 'Bearer kept-token-from-last-time' } });
      assert.equal(ok.status, 200);
    } finally {
      run.child.kill('SIGINT');
      assert.equal(await run.exit, 0);
    }
  });

  it('refuses an invalid config file with exit code 2 and every problem by JSON path', async function () {
    const config = join(tempDir(), 'hub.json');
    writeFileSync(config, JSON.stringify({ servers: { a: { type: 'http' } }, virtualServers: { v: { upstreams: ['nope'] } } }));
    const run = startCli(['serve', '--port', '0', '--config', config, '--token', 't']);
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
});
