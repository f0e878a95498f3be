import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { adminAuth, connectClient, firstText, fixturesDir, tempDir, testAdminToken, testToken, waitFor } from '../support/hubHarness';
import { rawRequest } from '../support/rawHttp';

const stormFixture = join(fixturesDir, 'stormFixture.js');

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}
let ticks: number | undefined;
function clockTicks(): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks;
}

/** Waits until a process's CPU time stops growing (its work is done), and returns it. */
async function cpuWhenIdle(pid: number): Promise<number> {
  let last = cpuSeconds(pid);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const now = cpuSeconds(pid);
    if (now - last < 0.03) return now;
    last = now;
  }
  throw new Error(`process ${pid} still busy after 120 s`);
}

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

type CliRun = { child: ChildProcess; url: Promise<string>; exit: Promise<number | null> };

/** The real CLI with its stdout and stderr piped to this process, as a supervisor or `| tee` would. */
function startCli(args: string[]): CliRun {
  args = args.includes('--token-file') ? args : [...args, '--token-file', join(tempDir(), 'token')];
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

  it('coalesces a storm of 20,000 tools/list_changed: little more CPU than as many notifications nobody handles, and the last change still shows', async function () {
    if (process.platform !== 'linux') this.skip(); // CPU time from /proc
    const dir = tempDir('hub-storm-');
    const configPath = join(dir, 'hub.json');
    writeFileSync(configPath, JSON.stringify({ servers: { storm: { command: process.execPath, args: [stormFixture], timeout: 120_000 } } }));
    const run = startCli(['--config', configPath]);
    runs.push(run);
    const url = await run.url;
    const pid = run.child.pid!;
    let toldChanged = 0;
    const client: Client = await connectClient(url, { beforeConnect: (c) => c.setNotificationHandler(ToolListChangedNotificationSchema, () => void (toldChanged += 1)) });
    try {
      const count = 20_000;
      const stormOf = async (method: string, addTool?: string): Promise<number> => {
        const before = await cpuWhenIdle(pid);
        const result = await client.callTool({ name: 'storm__storm', arguments: { count, method, ...(addTool ? { addTool } : {}) } }, undefined, { timeout: 120_000 });
        assert.match(firstText(result), /^stormed 20000/);
        return (await cpuWhenIdle(pid)) - before;
      };
      const unhandled = await stormOf('notifications/nobody_handles_this');
      const listChanged = await stormOf('notifications/tools/list_changed', 'after_the_storm');
      const stats = JSON.parse(firstText(await client.callTool({ name: 'storm__stats', arguments: {} }))) as { toolListRequests: number };
      console.log(`      hub CPU for ${count} notifications: unhandled ${unhandled.toFixed(2)} s, list_changed ${listChanged.toFixed(2)} s; re-lists ${stats.toolListRequests}, list_changed to the client ${toldChanged}`);

      await waitFor(async () => (await client.listTools()).tools.some((tool) => tool.name === 'storm__after_the_storm'), 30_000, 'the change at the end of the storm listed');
      assert.ok(listChanged <= unhandled * 1.5 + 0.5, `list_changed cost ${listChanged.toFixed(2)} s of CPU against ${unhandled.toFixed(2)} s for notifications nobody handles`);
      assert.ok(stats.toolListRequests < count / 10, `${stats.toolListRequests} re-lists for ${count} notifications`);
    } finally {
      await client.close().catch(() => undefined);
    }
  });
});
