import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { adminAuth, tempDir, testAdminToken, testToken, waitFor } from '../support/hubHarness';
import { rawRequest } from '../support/rawHttp';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

type CliRun = { child: ChildProcess; url: Promise<string>; exit: Promise<number | null> };

/** The real CLI with its stdout and stderr piped to this process, as a supervisor or `| tee` would. */
function startCli(args: string[]): CliRun {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MCP_SESSION_HUB_TOKEN: testToken, MCP_SESSION_HUB_ADMIN_TOKEN: testAdminToken },
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
    void exit.then((code) => reject(new Error(`cli exited with ${code} before its ready line`)));
  });
  return { child, url, exit };
}

describe('the hub itself under faults', function () {
  this.timeout(90_000);
  const runs: CliRun[] = [];
  afterEach(() => {
    for (const run of runs.splice(0)) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  });

  it('keeps serving when its log reader dies, and SIGTERM still ends it within the grace period', async function () {
    const run = startCli(['--log-level', 'debug', '--token-file', join(tempDir(), 'token')]);
    runs.push(run);
    const url = await run.url;
    // The reader dies: every later write to stdout or stderr fails with EPIPE.
    run.child.stdout!.destroy();
    run.child.stderr!.destroy();
    // Anything that logs: an upstream restart logs at once and again when it is back.
    assert.equal((await rawRequest(`${url}/admin/upstreams/demo/restart`, { method: 'POST', headers: adminAuth, timeoutMs: 10_000 })).status, 202);
    await waitFor(async () => {
      const state = JSON.parse((await rawRequest(`${url}/admin/state`, { headers: adminAuth, timeoutMs: 10_000 })).body) as { upstreams: { state: string }[] };
      return state.upstreams[0]?.state === 'ready';
    }, 20_000, 'the demo upstream back after its restart');
    assert.equal((await rawRequest(`${url}/healthz`, { auth: false, timeoutMs: 10_000 })).status, 200);

    run.child.kill('SIGTERM');
    const code = await Promise.race([run.exit, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000))]);
    assert.notEqual(code, 'hung', 'SIGTERM did not end the hub within 15 s');
    assert.equal(code, 0, 'a clean shutdown');
  });
});
