import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connectClient, firstText, fixturesDir, readJsonLines, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';
import { startCli } from '../support/cli';
import { processState } from '../support/processes';

const daemonFixture = join(fixturesDir, 'daemonFixture.js');
/** Generous: nothing here may hinge on sub-second timing on a busy 2-core machine. */
const goneWithinMs = 15_000;

type PidLine = { role: 'server' | 'middle' | 'daemon'; pid: number; family: string | null };

const isGone = (pid: number) => processState(pid) !== 'alive'; // a zombie is dead: only init may reap it here

/** Live processes whose environment holds MCP_SESSION_HUB_FAMILY starting with `value` (Linux /proc). */
function carriersOf(value: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = `\0${readFileSync(`/proc/${name}/environ`, 'latin1')}`;
      if (environ.includes(`\0MCP_SESSION_HUB_FAMILY=${value}`) && processState(Number(name)) === 'alive') found.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Live processes whose command line holds `text` (the watchdog gets its hub run's prefix as an argument). */
function commandLinesWith(text: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(text) && processState(Number(name)) === 'alive') found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The hub run a family marker belongs to: "<run>.<child>" → "<run>.". */
const runPrefixOf = (family: string) => family.slice(0, family.lastIndexOf('.') + 1);

/** Every pid a fixture recorded, and every marker; `after` ends whatever a failing run left. */
const recordedFiles: string[] = [];
function pidFile(dir: string, name: string): string {
  const file = join(dir, `${name}.jsonl`);
  recordedFiles.push(file);
  return file;
}
const linesOf = (file: string) => readJsonLines<PidLine>(file);
const daemonsOf = (file: string) => linesOf(file).filter((line) => line.role === 'daemon');

async function waitForDaemons(file: string, count: number): Promise<PidLine[]> {
  await waitFor(() => daemonsOf(file).length >= count, goneWithinMs, `${count} daemon(s) in ${file}`);
  return daemonsOf(file);
}

/** Waits until every recorded process is gone, and checks nothing else carries their markers. */
async function assertFamiliesGone(file: string, what: string): Promise<void> {
  const lines = linesOf(file);
  const alive = () => lines.filter((line) => !isGone(line.pid)).map((line) => `${line.role} ${line.pid}`);
  await waitFor(() => alive().length === 0, goneWithinMs, `${what}: every recorded process gone`).catch(() => undefined);
  assert.deepEqual(alive(), [], `${what}: processes left behind`);
  for (const family of new Set(lines.map((line) => line.family))) {
    assert.ok(family, `${what}: the upstream's processes carry a family marker`);
    assert.deepEqual(carriersOf(`${family}\0`), [], `${what}: processes still carrying ${family}`);
  }
}

/**
 * "No orphan, ever": a stdio upstream that double-forks a daemon (setsid, parent gone: out of the
 * upstream's process group and parent links) leaves nothing behind when its session ends, when it
 * crashes right after starting, when the hub is stopped, and when the hub is killed outright.
 */
describe('reliability: no orphan, ever', function () {
  this.timeout(60_000);
  const dir = tempDir('hub-no-orphans-');

  after(() => {
    // A failing run must not leave its daemons on the machine.
    for (const file of recordedFiles) {
      for (const line of linesOf(file)) {
        try {
          process.kill(line.pid, 'SIGKILL');
        } catch {
          // gone
        }
        if (line.family) for (const pid of carriersOf(runPrefixOf(line.family))) process.kill(pid, 'SIGKILL');
      }
    }
  });

  it("ends a per-session instance's double-forked daemon with its session", async function () {
    const pids = pidFile(dir, 'per-session');
    const hub: TestHub = await startTestHub({
      servers: { daemon: { command: process.execPath, args: [daemonFixture], env: { DAEMON_PID_FILE: pids }, perSession: true, warm: 0 } },
      virtualServers: { d: { upstreams: ['daemon'], naming: 'bare' } },
    });
    try {
      const client = await connectClient(hub.url, { virtualServer: 'd' });
      const daemon = Number(/^daemon (\d+)$/.exec(firstText(await client.callTool({ name: 'spawn_daemon' })))?.[1]);
      // Up and running (it records itself once started), not just spawned.
      await waitFor(() => daemonsOf(pids).some((line) => line.pid === daemon), goneWithinMs, `daemon ${daemon} running`);
      assert.equal(processState(daemon), 'alive');
      const started = Date.now();
      await (client.transport as StreamableHTTPClientTransport).terminateSession();
      await client.close();
      await waitFor(() => isGone(daemon), goneWithinMs, `the session's daemon ${daemon} gone after the session ended`);
      console.log(`      daemon gone ${Date.now() - started} ms after the session ended`);
      // The probe stays (it serves no session); only the instance's family must be gone.
      const instanceFamily = daemonsOf(pids).find((line) => line.pid === daemon)?.family;
      assert.ok(instanceFamily, 'the daemon carries its family marker');
      assert.deepEqual(carriersOf(`${instanceFamily}\0`), []);
    } finally {
      await hub.close();
    }
    await assertFamiliesGone(pids, 'after hub close');
  });

  it('ends the daemons of a shared upstream that crashes within a second of every start, while it crash-loops and after the hub closes', async function () {
    const pids = pidFile(dir, 'crash-loop');
    // This upstream never stays ready.
    const running = await startTestHub(
      { servers: { crashy: { command: process.execPath, args: [daemonFixture], env: { DAEMON_ON_START: '1', DAEMON_CRASH_AFTER_MS: '100', DAEMON_PID_FILE: pids } } } },
      { waitForReady: false },
    );
    try {
      const daemons = await waitForDaemons(pids, 4);
      const servers = linesOf(pids).filter((line) => line.role === 'server');
      console.log(`      ${servers.length} starts, ${daemons.length} daemons so far`);
      // The first two families crashed long ago: their daemons must be gone while the loop goes on.
      const early = daemons.slice(0, 2).map((line) => line.pid);
      await waitFor(() => early.every(isGone), goneWithinMs, `the daemons ${early.join(', ')} of crashed starts gone`);
    } finally {
      await running.close();
    }
    const total = linesOf(pids).filter((line) => line.role === 'server').length;
    console.log(`      ${total} crashing starts in all`);
    await assertFamiliesGone(pids, 'after the crash loop and hub close');
  });

  for (const how of ['SIGTERM', 'SIGKILL'] as const) {
    it(`leaves no process of any upstream family after the CLI hub gets ${how}${how === 'SIGKILL' ? ' (the watchdog ends them), even from an upstream that ignores stdin EOF' : ''}`, async function () {
      const pids = pidFile(dir, `cli-${how}`);
      const config = join(dir, `cli-${how}.json`);
      const env: Record<string, string> = { DAEMON_ON_START: '1', DAEMON_PID_FILE: pids, ...(how === 'SIGKILL' ? { DAEMON_IGNORE_EOF: '1' } : {}) };
      writeFileSync(config, JSON.stringify({ servers: { daemon: { command: process.execPath, args: [daemonFixture], env } } }));
      const state = tempDir('hub-no-orphans-cli-');
      const run = startCli(['serve', '--config', config, '--port', '0', '--json', '--token-file', join(state, 'token'), '--admin-token-file', join(state, 'admin-token')]);
      try {
        await run.ready;
        const [daemon] = await waitForDaemons(pids, 1);
        const started = Date.now();
        run.child.kill(how);
        const code = await run.exit;
        if (how === 'SIGTERM') assert.equal(code, 0);
        await assertFamiliesGone(pids, `after ${how}`);
        const runPrefix = runPrefixOf(daemon.family ?? '');
        await waitFor(() => carriersOf(runPrefix).length === 0, goneWithinMs, `no process of hub run ${runPrefix} left`);
        await waitFor(() => commandLinesWith(runPrefix).length === 0, goneWithinMs, `the watchdog of hub run ${runPrefix} gone`);
        console.log(`      everything gone ${Date.now() - started} ms after ${how}`);
      } finally {
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
      }
    });
  }
});
