import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { SessionState } from '../../src/hub/adminState';
import { rawRequest } from '../support/rawHttp';
import {
  adminAuth,
  connectClient,
  firstText as textOf,
  passthroughFixture,
  readJsonLines,
  startTestHub,
  tempDir,
  waitFor,
  type FixtureEvent,
  type TestHub,
  type TransportName,
} from '../support/hubHarness';
import { processState } from '../support/processes';

/** Pids of fixture processes that have started, in order (from the fixture's event log). */
function startedPids(eventLog: string): number[] {
  return readJsonLines<FixtureEvent>(eventLog)
    .filter((event) => event.event === 'started')
    .map((event) => event.pid);
}

function perSessionHub(eventLog: string, policy: Record<string, unknown> = {}, hubSettings: Record<string, unknown> = {}): Promise<TestHub> {
  return startTestHub({
    servers: {
      browser: { command: process.execPath, args: [passthroughFixture, '--stdio'], env: { FIXTURE_EVENT_LOG: eventLog }, perSession: true, ...policy },
    },
    virtualServers: { browser: { upstreams: ['browser'], naming: 'bare' } },
    hub: hubSettings,
  });
}

describe('per-session upstream instances', function () {
  this.timeout(30_000);
  const dir = tempDir('hub-per-session-');
  let hub: TestHub;
  let eventLog: string;
  let logCount = 0;
  const clients: Client[] = [];

  async function client(transport: TransportName = 'streamable-http', headers?: Record<string, string>): Promise<Client> {
    const connected = await connectClient(hub.url, { virtualServer: 'browser', transport, headers });
    clients.push(connected);
    return connected;
  }
  /** The admin state's session of a Streamable HTTP client. */
  const sessionOf = (c: Client): SessionState | undefined => {
    const id = (c.transport as StreamableHTTPClientTransport).sessionId;
    return hub.hub.state().sessions.find((s) => s.connections.some((conn) => conn.id === id));
  };
  const pidOf = async (c: Client): Promise<number> => Number(/^pid (\d+)/.exec(textOf(await c.callTool({ name: 'recall' })))?.[1]);
  const helperOf = async (c: Client): Promise<number> => Number(/^helper (\d+)/.exec(textOf(await c.callTool({ name: 'spawn_helper' })))?.[1]);

  async function startHub(policy: Record<string, unknown> = {}, hubSettings: Record<string, unknown> = {}): Promise<void> {
    eventLog = join(dir, `events-${++logCount}.jsonl`);
    hub = await perSessionHub(eventLog, policy, hubSettings);
  }
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await hub?.close();
  });

  it('gives each session its own instance, which other sessions never reach', async function () {
    await startHub();
    const alice = await client();
    const bob = await client('sse');
    await alice.callTool({ name: 'remember', arguments: { value: 'alice-secret' } });
    await bob.callTool({ name: 'remember', arguments: { value: 'bob-secret' } });
    const aliceRecall = textOf(await alice.callTool({ name: 'recall' }));
    const bobRecall = textOf(await bob.callTool({ name: 'recall' }));
    assert.match(aliceRecall, /remembers alice-secret$/);
    assert.match(bobRecall, /remembers bob-secret$/);
    const alicePid = await pidOf(alice);
    const bobPid = await pidOf(bob);
    assert.notEqual(alicePid, bobPid);
    // The admin state shows each session's own instance, and the probe (catalog only) is neither.
    assert.deepEqual(sessionOf(alice)?.instances.map((i) => [i.upstream, i.pid, i.state]), [['browser', alicePid, 'ready']]);
    const bobSession = hub.hub.state().sessions.find((s) => s.connections[0]?.transport === 'sse');
    assert.deepEqual(bobSession?.instances.map((i) => [i.upstream, i.pid, i.state]), [['browser', bobPid, 'ready']]);
    const probe = hub.hub.state().upstreams.find((u) => u.id === 'browser');
    assert.ok(probe?.pid && probe.pid !== alicePid && probe.pid !== bobPid);
    assert.equal(probe.perSession?.instances, 2);
  });

  it('lists the full catalog to a new session at once, before any instance of its own starts', async function () {
    await startHub({ warm: 0 });
    const alice = await client();
    const tools = (await alice.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes('recall') && tools.includes('spawn_helper') && tools.includes('rich'), tools.join());
    assert.deepEqual(sessionOf(alice)?.instances, [], 'listing starts nothing');
    // With no warm spare, the first call waits for a start, and says so when asked for progress.
    const progress: string[] = [];
    await alice.callTool({ name: 'recall' }, undefined, { onprogress: (p) => progress.push(p.message ?? String(p.progress)) });
    assert.deepEqual(progress, ["starting upstream 'browser' for this session"]);
  });

  it('hands a new session a warm spare that was started before it came, and starts the next spare', async function () {
    await startHub({ warm: 1 });
    // The probe and one spare.
    await waitFor(() => startedPids(eventLog).length === 2 && hub.hub.state().upstreams[0]?.perSession?.spares === 1, 5_000, 'a warm spare');
    const before = startedPids(eventLog);
    const alice = await client();
    const alicePid = await pidOf(alice);
    assert.ok(before.includes(alicePid), `Alice got ${alicePid}, a process started before she came (${before.join()})`);
    await waitFor(() => startedPids(eventLog).length === 3, 5_000, 'a replacement spare');
    const bob = await client();
    assert.notEqual(await pidOf(bob), alicePid);
  });

  for (const how of ['DELETE', 'admin kill', 'SSE disconnect', 'hub shutdown'] as const) {
    it(`ends a session's instance and every process it started: ${how}`, async function () {
      await startHub({ warm: 0 });
      const alice = await client(how === 'SSE disconnect' ? 'sse' : 'streamable-http');
      const pid = await pidOf(alice);
      const helper = await helperOf(alice);
      assert.equal(processState(helper), 'alive');
      if (how === 'DELETE') await (alice.transport as StreamableHTTPClientTransport).terminateSession();
      if (how === 'admin kill') assert.equal((await rawRequest(`${hub.url}/admin/sessions/${sessionOf(alice)?.id}`, { method: 'DELETE', headers: adminAuth })).status, 204);
      if (how === 'SSE disconnect') await alice.close();
      if (how === 'hub shutdown') await hub.close();
      // Gone, and reaped: not a zombie either.
      await waitFor(() => processState(pid) === 'gone' && processState(helper) === 'gone', 8_000, `instance ${pid} and helper ${helper} gone`);
    });
  }

  it('leaves no process at all after hub shutdown: probe, spares, instances and what they started', async function () {
    await startHub({ warm: 2 });
    const alice = await client();
    const bob = await client();
    const helpers = [await helperOf(alice), await helperOf(bob)];
    await waitFor(() => startedPids(eventLog).length === 5, 5_000, 'probe, two instances, two spares');
    const pids = [...startedPids(eventLog), ...helpers];
    await hub.close();
    await waitFor(() => pids.every((pid) => processState(pid) === 'gone'), 8_000, 'every process gone');
  });

  it('stops an instance unused for its idle timeout; the session\'s next call gets a fresh one', async function () {
    await startHub({ warm: 0, idleTimeout: 1 });
    const alice = await client();
    await alice.callTool({ name: 'remember', arguments: { value: 'before idle' } });
    const first = await pidOf(alice);
    await waitFor(() => processState(first) === 'gone', 5_000, 'idle instance stopped');
    assert.deepEqual(sessionOf(alice)?.instances, []);
    const recall = textOf(await alice.callTool({ name: 'recall' }));
    assert.match(recall, /remembers nothing$/);
    assert.notEqual(await pidOf(alice), first);
  });

  it('makes room at maxInstances by stopping the least recently used idle instance; its session gets a fresh one', async function () {
    await startHub({ warm: 0, maxInstances: 2 });
    const alice = await client();
    const bob = await client();
    const alicePid = await pidOf(alice);
    const bobPid = await pidOf(bob);
    const carol = await client();
    // Alice's instance is the least recently used: it goes, Bob's stays.
    const carolPid = await pidOf(carol);
    await waitFor(() => processState(alicePid) !== 'alive', 10_000, "Alice's idle instance stopped");
    assert.equal(processState(bobPid), 'alive');
    assert.ok(sessionOf(alice), 'Alice keeps her session');
    // Alice comes back: a fresh instance, in place of Bob's, now the least recently used.
    const aliceAgain = await pidOf(alice);
    assert.notEqual(aliceAgain, alicePid);
    await waitFor(() => processState(bobPid) !== 'alive', 10_000, "Bob's idle instance stopped");
    assert.equal(processState(carolPid), 'alive');
  });

  it('refuses a new session when every instance is in a call, naming the busy sessions, at once', async function () {
    await startHub({ warm: 0, maxInstances: 2 });
    const alice = await client();
    const bob = await client();
    // Each call takes 8 s; ending a session cancels its call.
    const busy = [alice, bob].map((c, i) => c.callTool({ name: 'slow', arguments: { tag: `busy-${i}`, steps: 40, stepMs: 200 } }, undefined, { timeout: 60_000 }).catch(() => undefined));
    await waitFor(() => readJsonLines<FixtureEvent>(eventLog).filter((e) => e.event === 'slow-started' && e.tag?.startsWith('busy-')).length === 2, 10_000, 'both calls in flight');
    const carol = await client();
    const started = Date.now();
    await assert.rejects(carol.callTool({ name: 'recall' }), (error: unknown) => {
      assert.ok(error instanceof McpError);
      assert.equal(error.code, -32005);
      assert.match(error.message, /upstream 'browser' cannot start an instance for this session: all maxInstances = 2 session instances are in a call \(sessions /);
      assert.ok(error.message.includes(sessionOf(alice)?.id ?? '?') && error.message.includes(sessionOf(bob)?.id ?? '?'), error.message);
      return true;
    });
    // Refused at once, not after the 8 s calls it would have waited for.
    assert.ok(Date.now() - started < 5_000, 'refused without waiting');
    await (alice.transport as StreamableHTTPClientTransport).terminateSession();
    await waitFor(async () => !(await carol.callTool({ name: 'recall' }).then(() => false, () => true)), 10_000, 'a free slot for Carol');
    await (bob.transport as StreamableHTTPClientTransport).terminateSession();
    await Promise.all(busy);
  });

  it('restarts a crashed instance on its session\'s next call, leaving other sessions alone', async function () {
    await startHub({ warm: 0 });
    const alice = await client();
    const bob = await client();
    const alicePid = await pidOf(alice);
    const bobPid = await pidOf(bob);
    const aliceHelper = await helperOf(alice);
    process.kill(alicePid, 'SIGKILL');
    // What the crashed instance started goes with it. (Its parent died first, so it is re-parented:
    // init reaps it on a normal machine; this sandbox's init does not, hence "not alive".)
    await waitFor(() => processState(aliceHelper) !== 'alive', 5_000, 'the crashed instance\'s helper ended');
    await waitFor(() => sessionOf(alice)?.instances[0]?.state === 'failed', 5_000, 'the crash to be noticed');
    assert.equal(await pidOf(bob), bobPid, 'Bob keeps his instance');
    const restarted = await pidOf(alice);
    assert.notEqual(restarted, alicePid);
    assert.ok(hub.logLines.some((line) => /\[upstream:browser:instances\] restarting after/.test(line)), 'a notice in the log');
  });

  it('keeps one instance for all connections of a joined session (X-MCP-Hub-Session)', async function () {
    await startHub({ warm: 0 });
    const first = await client('streamable-http', { 'x-mcp-hub-session': 'workspace-1' });
    const second = await client('sse', { 'x-mcp-hub-session': 'workspace-1' });
    const other = await client();
    assert.equal(await pidOf(first), await pidOf(second));
    assert.notEqual(await pidOf(other), await pidOf(first));
  });
});
