import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import {
  connectClient,
  firstText,
  fixtureUpstream,
  fixturesDir,
  readJsonLines,
  startTestHub,
  tempDir,
  testToken,
  waitFor,
  type TestHub,
  type TransportName,
} from '../support/hubHarness';
import { heapAfterGc } from '../support/heap';
import { processState } from '../support/processes';
import { rawInitialize, rawRequest } from '../support/rawHttp';
import { RawSseSession } from '../support/rawSse';
import { assertNoProcessLeftBehind, descendantsNow } from './reliabilityHarness';

/**
 * Upstreams that hang, crash mid-call, answer slowly or flood notifications, and clients that
 * go away mid-call. Affected calls must fail with clear errors, in bounded time; the hub must
 * recover; no other session may lose anything; no process may be left behind.
 */

const faultFixture = join(fixturesDir, 'faultFixture.js');
/** The faulty upstream's per-request timeout: a hanging call must fail after it. */
const timeoutMs = 1_000;

type FaultEvent = { pid: number; event: string; tool?: string; tag?: string };


/** A request the test can cut off mid-flight, as a client that goes away does. */
function startRawPost(url: string, headers: Record<string, string>, body: string): { cut(): void } {
  const req = request(url, {
    method: 'POST',
    headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${testToken}`, ...headers },
  });
  req.on('response', (res) => res.resume());
  req.on('error', () => undefined); // the cut itself
  req.end(body);
  return { cut: () => req.destroy() };
}

describe('reliability: faults', function () {
  this.timeout(60_000);
  const dir = tempDir('hub-reliability-faults-');
  const eventLog = join(dir, 'faulty.jsonl');
  const instanceLog = join(dir, 'mine.jsonl');
  let hub: TestHub;
  let processesBefore: Set<number>;
  const clients: Client[] = [];
  const events = () => readJsonLines<FaultEvent>(eventLog);
  const eventsOf = (tag: string) => events().filter((event) => event.tag === tag).map((event) => event.event);

  async function client(virtualServer: string, transport: TransportName = 'streamable-http', options: Parameters<typeof connectClient>[1] = {}): Promise<Client> {
    const connected = await connectClient(hub.url, { virtualServer, transport, ...options });
    clients.push(connected);
    return connected;
  }
  const faultyPid = () => hub.hub.state().upstreams.find((upstream) => upstream.id === 'faulty')?.pid;
  const recallPid = async (c: Client) => Number(/^pid (\d+)/.exec(firstText(await c.callTool({ name: 'recall' })))?.[1]);

  before(async function () {
    processesBefore = descendantsNow();
    hub = await startTestHub(
      {
        servers: {
          faulty: { command: process.execPath, args: [faultFixture], env: { FIXTURE_EVENT_LOG: eventLog }, timeout: timeoutMs, attribution: 'single-flight' },
          mine: { command: process.execPath, args: [faultFixture], env: { FIXTURE_EVENT_LOG: instanceLog }, timeout: timeoutMs, perSession: true, warm: 0 },
          // The floods are not about timeouts: a busy machine must not make them fail on one.
          flooder: { command: process.execPath, args: [faultFixture], timeout: 60_000, attribution: 'single-flight' },
          steady: fixtureUpstream(join(dir, 'steady.jsonl')),
        },
        virtualServers: {
          faulty: { upstreams: ['faulty'], naming: 'bare' },
          mine: { upstreams: ['mine'], naming: 'bare' },
          flooder: { upstreams: ['flooder'], naming: 'bare' },
          steady: { upstreams: ['steady'] },
        },
      },
      { upstreamBackoffMs: 50 },
    );
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  });
  after(async () => hub?.close());

  /** Calls the steady upstream over and over until `until` settles; every call must succeed. Returns the slowest, in ms. */
  async function keepCalling(c: Client, until: Promise<unknown>): Promise<{ calls: number; slowestMs: number }> {
    let done = false;
    void until.finally(() => (done = true)).catch(() => undefined);
    let calls = 0;
    let slowestMs = 0;
    while (!done || calls === 0) {
      const started = Date.now();
      const text = firstText(await c.callTool({ name: 'steady__alpha', arguments: { text: `steady ${calls}` } }));
      assert.equal(text, `scope-fixture/alpha:steady ${calls}`);
      slowestMs = Math.max(slowestMs, Date.now() - started);
      calls++;
    }
    return { calls, slowestMs };
  }

  it('fails hanging calls after the upstream timeout with -32001 naming it, on every path, cancels them upstream, and serves the rest meanwhile', async function () {
    const pid = faultyPid();
    const hangers = [
      { tag: 'hang-direct', client: await client('faulty'), progress: false },
      { tag: 'hang-sdk', client: await client('faulty'), progress: true },
      { tag: 'hang-sse', client: await client('faulty', 'sse'), progress: false },
    ];
    const neighbour = await client('faulty', 'sse');
    const steady = await client('steady');
    const started = Date.now();
    const hanging = Promise.allSettled(
      hangers.map(({ tag, client: c, progress }) =>
        c.callTool({ name: 'hang', arguments: { tag } }, undefined, { timeout: 10_000, ...(progress ? { onprogress: () => undefined } : {}) }).then(() => Date.now() - started),
      ),
    );
    // While they hang, the same upstream answers other calls, and another upstream too.
    const slow = firstText(await neighbour.callTool({ name: 'slow', arguments: { tag: 'beside-hang', delayMs: 50 } }));
    assert.equal(slow, 'slow beside-hang after 50 ms');
    const during = await keepCalling(steady, hanging);
    const outcomes = await hanging;
    const elapsed = Date.now() - started;
    for (const [index, outcome] of outcomes.entries()) {
      const { tag } = hangers[index];
      assert.equal(outcome.status, 'rejected', `${tag} did not fail`);
      const error = (outcome as PromiseRejectedResult).reason as unknown;
      assert.ok(error instanceof McpError, `${tag}: ${String(error)}`);
      assert.equal(error.code, -32001, tag);
      assert.match(error.message, new RegExp(`upstream 'faulty' did not answer within ${timeoutMs} ms`), tag);
    }
    assert.ok(elapsed >= timeoutMs && elapsed < timeoutMs + 3_000, `the hanging calls failed after ${elapsed} ms (timeout ${timeoutMs} ms)`);
    await waitFor(() => hangers.every(({ tag }) => eventsOf(tag).includes('cancelled')), 3_000, 'the upstream to be told of every cancellation');
    console.log(`      3 hanging calls failed after ${elapsed} ms; ${during.calls} calls to another upstream meanwhile, slowest ${during.slowestMs} ms`);
    assert.equal(faultyPid(), pid, 'a hanging upstream is not restarted');
    assert.match(firstText(await hangers[0].client.callTool({ name: 'recall' })), /^pid \d+ remembers/);
  });

  it('answers slow calls in full, each to its own caller, without holding up faster ones on the same upstream', async function () {
    const callers = await Promise.all(Array.from({ length: 12 }, (_, i) => client('faulty', i % 2 === 0 ? 'streamable-http' : 'sse')));
    const quick = await client('faulty');
    const finished: string[] = [];
    const slowCalls = callers.map(async (c, i) => {
      const tag = `slow-${i}`;
      const delayMs = 500 + 40 * (i % 5);
      const text = firstText(await c.callTool({ name: 'slow', arguments: { tag, delayMs } }));
      finished.push(tag);
      assert.equal(text, `slow ${tag} after ${delayMs} ms`);
    });
    await waitFor(() => callers.every((_, i) => eventsOf(`slow-${i}`).includes('call')), 5_000, 'every slow call to be in flight');
    for (let i = 0; i < 3; i++) {
      assert.equal(firstText(await quick.callTool({ name: 'slow', arguments: { tag: `quick-${i}`, delayMs: 0 } })), `slow quick-${i} after 0 ms`);
    }
    assert.deepEqual(finished, [], 'the quick calls waited for the slow ones');
    await Promise.all(slowCalls);
    assert.equal(finished.length, 12);
  });

  it('fails the calls a crashing upstream takes down, restarts it, and leaves other upstreams and their sessions alone', async function () {
    const oldPid = faultyPid();
    assert.ok(oldPid);
    const alice = await client('faulty');
    const bob = await client('faulty', 'sse');
    const carol = await client('steady', 'sse');
    await alice.callTool({ name: 'remember', arguments: { value: 'before the crash' } });
    const bobsSlowCall = bob.callTool({ name: 'slow', arguments: { tag: 'bob-in-flight', delayMs: 800 } });
    await waitFor(() => eventsOf('bob-in-flight').includes('call'), 3_000, "Bob's call to reach the upstream");
    const crash = alice.callTool({ name: 'crash', arguments: { tag: 'crash-1', delayMs: 100 } });
    const during = await keepCalling(carol, Promise.allSettled([crash, bobsSlowCall]));
    for (const [who, call] of [['the crashing call', crash], ["Bob's call in flight", bobsSlowCall]] as const) {
      await assert.rejects(call, (error: unknown) => {
        assert.ok(error instanceof McpError, `${who}: ${String(error)}`);
        assert.ok(error.message.length > 0);
        return true;
      });
    }
    await waitFor(() => processState(oldPid) === 'gone', 5_000, 'the crashed process to be reaped');
    await waitFor(() => hub.hub.state().upstreams.find((u) => u.id === 'faulty')?.state === 'ready' && faultyPid() !== oldPid, 10_000, 'the upstream to be restarted');
    assert.ok(hub.logLines.some((line) => /\[upstream:faulty\] connection closed/.test(line)), 'the crash is in the log');
    // The sessions survive; their next calls reach the new process.
    assert.equal(await recallPid(alice), faultyPid());
    assert.equal(firstText(await bob.callTool({ name: 'slow', arguments: { tag: 'bob-after', delayMs: 0 } })), 'slow bob-after after 0 ms');
    console.log(`      ${during.calls} calls to another upstream during the crash, slowest ${during.slowestMs} ms`);
  });

  it('names the upstream in the error of a call it took down by crashing', async function () {
    // Today the client gets the SDK's bare `-32000 Connection closed`: behind a virtual server
    // of several upstreams nothing says which one failed, unlike a timeout ("upstream 'x' did not
    // answer within N ms"). toRpcError could wrap ErrorCode.ConnectionClosed as
    // "upstream 'x' closed the connection during the call" (with the exit code, if known).
    const alice = await client('faulty');
    await waitFor(() => hub.hub.state().upstreams.find((u) => u.id === 'faulty')?.state === 'ready', 10_000, 'the upstream ready');
    await assert.rejects(alice.callTool({ name: 'crash', arguments: { tag: 'crash-2', delayMs: 50 } }), (error: unknown) => {
      assert.ok(error instanceof McpError);
      assert.match(error.message, /upstream 'faulty'/, `the error says only: ${error.message}`);
      return true;
    });
  });

  it("fails the call of a session whose own instance crashes mid-call, restarts it on the next call, and leaves other sessions' instances alone", async function () {
    const alice = await client('mine');
    const bob = await client('mine', 'sse');
    await alice.callTool({ name: 'remember', arguments: { value: 'alice' } });
    await bob.callTool({ name: 'remember', arguments: { value: 'bob' } });
    const alicePid = await recallPid(alice);
    const bobPid = await recallPid(bob);
    await assert.rejects(alice.callTool({ name: 'crash', arguments: { tag: 'alice-crash', delayMs: 50 } }), McpError);
    await waitFor(() => processState(alicePid) === 'gone', 5_000, "Alice's crashed instance reaped");
    assert.equal(firstText(await bob.callTool({ name: 'recall' })), `pid ${bobPid} remembers bob`);
    const restarted = firstText(await alice.callTool({ name: 'recall' }));
    assert.match(restarted, /^pid \d+ remembers nothing$/);
    assert.notEqual(await recallPid(alice), alicePid);
  });

  it('stays responsive and bounded in memory while an upstream floods progress and log notifications, and delivers every one', async function () {
    const count = 5_000;
    const steady = await client('steady');
    // One logging session per transport: on Streamable HTTP a plain call takes the fast path, which streams the logs.
    const loggers = await Promise.all(
      (['sse', 'streamable-http'] as const).map(async (transport) => {
        const received: number[] = [];
        const logger = await client('flooder', transport, {
          beforeConnect: (c) =>
            c.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
              const data = notification.params.data as { tag?: string; i?: number };
              if (data.tag?.startsWith('log-flood')) received.push(data.i ?? -1);
            }),
        });
        await logger.setLoggingLevel('info');
        return { transport, logger, received };
      }),
    );
    const progressClient = await client('flooder');
    // Progress is observed on the wire: the SDK client itself drops a progress that comes in the same chunk as the result.
    const wire: number[] = [];
    const transport = progressClient.transport;
    assert.ok(transport);
    const dispatch = transport.onmessage;
    transport.onmessage = (message, extra) => {
      if ('method' in message && message.method === 'notifications/progress') wire.push(Number(message.params?.progress));
      if ('result' in message) wire.push(-1);
      dispatch?.(message, extra);
    };

    const floodOnce = async (round: number) => {
      wire.length = 0;
      const progressFlood = progressClient.callTool({ name: 'flood', arguments: { tag: `progress-flood-${round}`, count, kind: 'progress' } }, undefined, {
        onprogress: () => undefined,
        timeout: 30_000,
      });
      const steadyDuring = await keepCalling(steady, progressFlood);
      assert.equal(firstText(await progressFlood), `flooded ${count} progress for progress-flood-${round}`);
      assert.deepEqual(wire, [...Array.from({ length: count }, (_, i) => i + 1), -1], 'every progress, in order, before the result');
      let slowestMs = steadyDuring.slowestMs;
      // Logs go to the one session with a call in flight on this upstream, so each flood runs alone.
      for (const { transport: via, logger, received } of loggers) {
        received.length = 0;
        const tag = `log-flood-${round}-${via}`;
        const logFlood = logger.callTool({ name: 'flood', arguments: { tag, count, kind: 'log' } }, undefined, { timeout: 30_000 });
        const steadyDuringLogs = await keepCalling(steady, logFlood);
        assert.equal(firstText(await logFlood), `flooded ${count} log for ${tag}`);
        await waitFor(() => received.length === count, 5_000, `${count} log messages over ${via} (got ${received.length})`);
        assert.deepEqual(received, Array.from({ length: count }, (_, i) => i + 1), `log messages over ${via}`);
        slowestMs = Math.max(slowestMs, steadyDuringLogs.slowestMs);
      }
      return slowestMs;
    };

    const heapBefore = heapAfterGc();
    const slowestFirst = await floodOnce(1);
    const heapAfterFirst = heapAfterGc();
    const slowestSecond = await floodOnce(2);
    const heapAfterSecond = heapAfterGc();
    const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    console.log(
      `      2 × (${count} progress + 2 × ${count} logs); heap ${mb(heapBefore)} → ${mb(heapAfterFirst)} → ${mb(heapAfterSecond)} MB; other sessions' slowest call ${Math.max(slowestFirst, slowestSecond)} ms`,
    );
    assert.ok(Math.max(slowestFirst, slowestSecond) < 3_000, 'another session waited seconds for a call during the flood');
    // What a flood leaves behind must not grow with it: the second flood keeps no more than the first.
    assert.ok(heapAfterSecond - heapAfterFirst < 8 * 1024 * 1024, `the heap grew by ${mb(heapAfterSecond - heapAfterFirst)} MB over the second flood`);
  });

  const endpoint = () => `${hub.url}/servers/faulty/mcp`;
  const protocol = { 'mcp-protocol-version': '2025-11-25' };

  async function cutMidCall(tag: string, meta?: Record<string, unknown>): Promise<string> {
    const session = await rawInitialize(endpoint());
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: { tag, delayMs: 800 }, ...(meta ? { _meta: meta } : {}) } });
    const post = startRawPost(endpoint(), { 'mcp-session-id': session, ...protocol }, body);
    await waitFor(() => eventsOf(tag).includes('call'), 3_000, 'the call to reach the upstream');
    post.cut();
    return session;
  }

  /** The session that lost its client's request is still there and still answers. */
  async function assertStillServes(session: string): Promise<void> {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: { tag: `after-${session.slice(0, 8)}`, delayMs: 0 } } });
    const response = await rawRequest(endpoint(), { method: 'POST', body, headers: { 'mcp-session-id': session, ...protocol }, timeoutMs: 5_000 });
    assert.equal(response.status, 200);
    assert.match(response.body, /slow after-/);
  }

  it('a client that goes away mid-call: cancels the upstream call when a plain tools/call POST is cut off (fast path), and the session keeps working', async function () {
    const session = await cutMidCall('cut-direct');
    await waitFor(() => eventsOf('cut-direct').includes('cancelled'), 3_000, 'the upstream to get notifications/cancelled');
    await assertStillServes(session);
  });

  it('a client that goes away mid-call: keeps serving a session whose streamed tools/call POST was cut off (SDK path)', async function () {
    const session = await cutMidCall('cut-sdk-serves', { progressToken: 'p' });
    await assertStillServes(session);
  });

  it('a client that goes away mid-call: cancels the upstream call when a streamed tools/call POST is cut off (SDK path), as the fast path does', async function () {
    // The fast path aborts its call on `res.close`; a request that took the SDK's path (here
    // because it carries a progress token) runs on to completion upstream, its answer written
    // to a stream nobody reads. The hub offers no resumable streams, so the answer is lost
    // either way. handleStreamable could, on `res.close` before the answer, abort the SDK
    // handler's request (e.g. deliver a notifications/cancelled for its id to the transport).
    await cutMidCall('cut-sdk', { progressToken: 'p' });
    await waitFor(() => eventsOf('cut-sdk').includes('finished'), 3_000, 'the call to end upstream');
    assert.deepEqual(eventsOf('cut-sdk'), ['call', 'cancelled', 'finished'], 'the upstream was not told: it ran the call as if its client were still there');
  });

  it('a client that goes away mid-call: cancels the upstream call when a legacy SSE client disconnects, ends that session, and serves the rest', async function () {
    const other = await client('faulty');
    const sse = await RawSseSession.open(hub.url, '/servers/faulty/sse');
    const post = await sse.post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: { tag: 'cut-sse', delayMs: 800 } } }));
    assert.equal(post.status, 202);
    await waitFor(() => eventsOf('cut-sse').includes('call'), 3_000, 'the call to reach the upstream');
    sse.close();
    await waitFor(() => eventsOf('cut-sse').includes('cancelled'), 3_000, 'the upstream to get notifications/cancelled');
    await waitFor(() => !hub.hub.state().sessions.some((s) => s.connections.some((c) => c.id === sse.sessionId)), 3_000, 'the session to end');
    assert.equal(firstText(await other.callTool({ name: 'slow', arguments: { tag: 'other-after-cut', delayMs: 0 } })), 'slow other-after-cut after 0 ms');
  });

  it('leaves no process behind when it closes', async function () {
    const pids = [...new Set([...events(), ...readJsonLines<FaultEvent>(instanceLog)].map((event) => event.pid))];
    assert.ok(pids.length >= 4, `expected several upstream processes, saw ${pids.join()}`);
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await hub.close();
    await assertNoProcessLeftBehind(processesBefore, 'the faults hub');
    assert.deepEqual(pids.filter((pid) => processState(pid) !== 'gone'), []);
  });
});
