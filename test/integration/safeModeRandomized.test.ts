import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { readDemoLog } from '../support/demoLog';
import { connectClient, demoUpstream, startTestHub, tempDir, type TestHub, type TransportName } from '../support/hubHarness';

/** A small seeded generator; the seed is printed (and SAFE_MODE_SEED sets it), so a run's mix can be repeated up to how the sessions interleave. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sessionsPerTransport = 3;
const operationsPerSession = 400;

describe('safe mode under random load', function () {
  this.timeout(120_000);
  let hub: TestHub;
  let log: string;
  before(async () => {
    log = join(tempDir(), 'demo.log');
    hub = await startTestHub({
      servers: { demo: demoUpstream(log) },
      virtualServers: { editor: { upstreams: ['demo'], tools: ['*_item', 'list_items'], naming: 'bare' } },
    });
  });
  after(async () => hub?.close());

  it('never lets a destructive call reach the upstream with an id its session did not create', async function () {
    const seed = Number(process.env.SAFE_MODE_SEED ?? Date.now() % 1_000_000);
    const random = mulberry32(seed);
    const creatorOf = new Map<string, number>(); // id -> index of the session that created it
    const allIds: string[] = [];
    const expectedAtUpstream: string[] = []; // "tool id" of every destructive call the model allows
    let refused = 0;

    const transports: TransportName[] = ['streamable-http', 'sse'];
    const clients: Client[] = [];
    for (const transport of transports) {
      for (let i = 0; i < sessionsPerTransport; i++) clients.push(await connectClient(hub.url, { virtualServer: 'editor', transport }));
    }
    // Each session's operations are drawn up front, so the model does not depend on timing.
    const run = async (client: Client, me: number) => {
      for (let op = 0; op < operationsPerSession; op++) {
        const roll = random();
        if (roll < 0.25 || allIds.length === 0) {
          const result = await client.callTool({ name: 'create_item', arguments: { title: `s${me}-${op}` } });
          const id = (result.structuredContent as { id: string }).id;
          creatorOf.set(id, me);
          allIds.push(id);
        } else if (roll < 0.4) {
          await client.callTool({ name: 'list_items', arguments: {} });
        } else {
          const tool = roll < 0.7 ? 'update_item' : 'delete_item';
          // Mostly someone's real id, sometimes a made-up one.
          const id = random() < 0.9 ? allIds[Math.floor(random() * allIds.length)] : randomUUID();
          const args = tool === 'update_item' ? { id, notes: `by ${me}` } : { id };
          const result = await client.callTool({ name: tool, arguments: args });
          const owned = creatorOf.get(id) === me;
          if (owned) {
            expectedAtUpstream.push(`${tool} ${id}`);
          } else {
            refused++;
            assert.equal(result.isError, true, `${tool} of a foreign id was not refused`);
            assert.match((result.content as { text: string }[])[0].text, /^Safe mode refused/);
          }
        }
      }
    };
    try {
      await Promise.all(clients.map((client, index) => run(client, index)));
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }

    const reached = readDemoLog(log)
      .filter((call) => call.tool === 'update_item' || call.tool === 'delete_item')
      .map((call) => `${call.tool} ${String(call.arguments.id)}`);
    const total = clients.length * operationsPerSession;
    console.log(`      seed ${seed}: ${total} operations from ${clients.length} sessions; ${expectedAtUpstream.length} destructive calls allowed, ${refused} refused`);
    assert.ok(refused > 100 && expectedAtUpstream.length > 100, 'the mix should exercise both outcomes');
    assert.deepEqual([...reached].sort(), [...expectedAtUpstream].sort());
  });
});
