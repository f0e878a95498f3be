import assert from 'node:assert/strict';
import { request, type ClientRequest } from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { adminAuth, connectClient, demoUpstream, firstText, startTestHub, waitFor, type TestHub } from '../../support/hubHarness';
import { rawInitialize, rawRequest } from '../../support/rawHttp';

/**
 * Issue #17, break 9: `/admin/events` must not degrade the hub under load. A hub with thousands
 * of sessions and a score of admin views streaming its state must still answer `tools/call` about
 * as fast as with no view open, while every call changes the state the views are shown.
 */

const sessionsCount = 2_000;
const initializeBatch = 50;
const subscribersCount = 20;
const measuredCalls = 100;
/** The ratio the subscribers may cost, plus an absolute allowance so a 1 ms baseline on a busy 2-core machine is not flaky. */
const allowedRatio = 2;
const allowanceMs = 5;

type Subscriber = { request: ClientRequest; bytes: number; events: number; closed: boolean };

/** Opens `/admin/events` with a raw GET and counts (and drops) what it reads. */
function subscribe(hubUrl: string): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const subscriber: Subscriber = { request: undefined as unknown as ClientRequest, bytes: 0, events: 0, closed: false };
    subscriber.request = request(`${hubUrl}/admin/events`, { headers: { ...adminAuth, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`/admin/events answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.on('data', (chunk: Buffer) => {
        subscriber.bytes += chunk.length;
        // Counting event frames by their header is enough: a frame is `event: state\ndata: …\n\n`.
        for (let at = chunk.indexOf('event: state'); at >= 0; at = chunk.indexOf('event: state', at + 1)) subscriber.events++;
      });
      res.on('close', () => (subscriber.closed = true));
      res.on('error', () => undefined);
      resolve(subscriber);
    });
    subscriber.request.on('error', (error) => (subscriber.closed ? undefined : reject(error)));
    subscriber.request.end();
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `count` sequential `echo` calls; their latencies in ms. */
async function echoLatencies(client: Client, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    const result = await client.callTool({ name: 'demo__echo', arguments: { text: `probe ${i}` } });
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    assert.equal(firstText(result), `probe ${i}`);
  }
  return latencies;
}

describe('attack: /admin/events under load (issue #17, break 9)', function () {
  this.timeout(300_000);
  let hub: TestHub;
  let probe: Client;
  let churn: Client;
  const subscribers: Subscriber[] = [];
  let churning = false;
  let churnLoop: Promise<void> | undefined;

  /** Another client calling `echo` back to back: every call changes the state (its counters). */
  function startChurn(): void {
    churning = true;
    churnLoop = (async () => {
      while (churning) await churn.callTool({ name: 'demo__echo', arguments: { text: 'churn' } });
    })();
  }
  async function stopChurn(): Promise<void> {
    churning = false;
    await churnLoop;
    churnLoop = undefined;
  }

  before(async function () {
    hub = await startTestHub({
      servers: { demo: demoUpstream() },
      hub: { maxSessions: sessionsCount + 100, maxConnections: sessionsCount + 100 },
    });
    const endpoint = `${hub.url}/mcp`;
    for (let opened = 0; opened < sessionsCount; opened += initializeBatch) {
      await Promise.all(Array.from({ length: Math.min(initializeBatch, sessionsCount - opened) }, () => rawInitialize(endpoint)));
    }
    probe = await connectClient(hub.url, { name: 'probe' });
    churn = await connectClient(hub.url, { name: 'churn' });
    assert.ok(hub.hub.state().sessions.length >= sessionsCount, 'the sessions are open');
  });

  after(async function () {
    churning = false;
    await churnLoop?.catch(() => undefined);
    for (const subscriber of subscribers) subscriber.request.destroy();
    await Promise.all([probe?.close(), churn?.close()]);
    if (hub) {
      // Every session, the raw ones included, ends through the admin API; then none is left.
      const ended = await rawRequest(`${hub.url}/admin/sessions`, { method: 'DELETE', headers: adminAuth });
      assert.equal(ended.status, 200);
      await waitFor(() => hub.hub.state().sessions.length === 0, 30_000, 'every session ended');
      await hub.close();
    }
  });

  it(`keeps tools/call p50 within ${allowedRatio}x (+${allowanceMs} ms) with ${subscribersCount} subscribers and ${sessionsCount} sessions`, async function () {
    // Warm up: JIT, the upstream, the SDK clients.
    await echoLatencies(probe, 20);

    // The baseline runs with the same churn, so the only difference is the subscribers.
    startChurn();
    const without = median(await echoLatencies(probe, measuredCalls));
    await stopChurn();

    for (let i = 0; i < subscribersCount; i++) subscribers.push(await subscribe(hub.url));
    await waitFor(() => subscribers.every((s) => s.events >= 1), 60_000, 'every subscriber got the state once');
    assert.ok(subscribers.every((s) => !s.closed), 'the subscribers stay connected');

    startChurn();
    const bytesBefore = subscribers.reduce((sum, s) => sum + s.bytes, 0);
    const eventsBefore = subscribers.reduce((sum, s) => sum + s.events, 0);
    const started = Date.now();
    const withSubscribers = median(await echoLatencies(probe, measuredCalls));
    const seconds = (Date.now() - started) / 1000;
    await stopChurn();
    const bytes = subscribers.reduce((sum, s) => sum + s.bytes, 0) - bytesBefore;
    const events = subscribers.reduce((sum, s) => sum + s.events, 0) - eventsBefore;

    const stateBytes = Buffer.byteLength(JSON.stringify(hub.hub.state()));
    console.log(
      `      ${sessionsCount} sessions (state ${(stateBytes / 1024).toFixed(0)} KiB), ${subscribersCount} subscribers: ` +
        `tools/call p50 ${without.toFixed(2)} ms without, ${withSubscribers.toFixed(2)} ms with; ` +
        `subscribers received ${(bytes / seconds / 1024 / 1024).toFixed(1)} MiB/s (${(events / seconds).toFixed(1)} events/s in all) over ${seconds.toFixed(1)} s`,
    );

    assert.ok(subscribers.every((s) => !s.closed), 'the subscribers stay connected');
    assert.ok(events > 0, 'the subscribers are still told about changes');
    assert.ok(
      withSubscribers <= allowedRatio * without + allowanceMs,
      `tools/call p50 with ${subscribersCount} subscribers (${withSubscribers.toFixed(2)} ms) exceeds ${allowedRatio}x the p50 without (${without.toFixed(2)} ms) + ${allowanceMs} ms`,
    );
  });
});
