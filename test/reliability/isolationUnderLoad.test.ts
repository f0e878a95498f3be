import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { barrier, connectClient, demoUpstream, firstText, fixtureUpstream, fixturesDir, readJsonLines, startTestHub, tempDir, type TestHub, type TransportName } from '../support/hubHarness';
import { processState } from '../support/processes';
import { assertNoProcessLeftBehind, descendantsNow } from './reliabilityHarness';

/**
 * Many sessions at once, over both transports and three virtual servers, some of them joined
 * pairs of connections: each must see exactly its own virtual server's tools, its own
 * per-session instance (its pid and what it stored there, in the tool results and in the admin
 * API), and its own safe-mode ledger, while all the others run at the same time.
 */

const faultFixture = join(fixturesDir, 'faultFixture.js');
const connectionsCount = 48;
/** The last connections come in pairs joined by X-MCP-Hub-Session (one Streamable HTTP, one SSE). */
const joinedPairs = 4;
const rounds = 5;

const virtualServers = {
  red: { upstreams: ['inst', 'demo'], tools: ['inst/remember', 'inst/recall', 'demo/create_item', 'demo/delete_item', 'demo/get_item'] },
  blue: { upstreams: ['inst', 'demo', 'up'], tools: ['inst/remember', 'inst/recall', 'demo/*_item', 'up/alpha'] },
  green: { upstreams: ['inst', 'demo'], tools: ['remember', 'recall', 'create_item', 'delete_item', 'list_items'], naming: 'bare' },
};
type ViewName = keyof typeof virtualServers;
const expectedTools: Record<ViewName, string[]> = {
  red: ['demo__create_item', 'demo__delete_item', 'demo__get_item', 'inst__recall', 'inst__remember'],
  blue: ['demo__create_item', 'demo__delete_item', 'demo__get_item', 'demo__update_item', 'inst__recall', 'inst__remember', 'up__alpha'],
  green: ['create_item', 'delete_item', 'list_items', 'recall', 'remember'],
};
/** A tool's exposed name on a view: bare on green, prefixed elsewhere. */
const toolOn = (view: ViewName, upstream: 'inst' | 'demo', tool: string) => (view === 'green' ? tool : `${upstream}__${tool}`);

type Participant = { name: string; view: ViewName; transport: TransportName; key?: string; client?: Client; leader: boolean };

describe('reliability: isolation under load', function () {
  this.timeout(90_000);
  const dir = tempDir('hub-reliability-load-');
  let hub: TestHub;
  let processesBefore: Set<number>;
  const participants: Participant[] = [];

  before(async function () {
    processesBefore = descendantsNow();
    hub = await startTestHub({
      servers: {
        inst: { command: process.execPath, args: [faultFixture], env: { FIXTURE_EVENT_LOG: join(dir, 'inst.jsonl') }, perSession: true, warm: 2, maxInstances: 64 },
        demo: demoUpstream(join(dir, 'demo.jsonl')),
        up: fixtureUpstream(join(dir, 'up.jsonl')),
      },
      virtualServers,
    });
    const views = Object.keys(virtualServers) as ViewName[];
    const singles = connectionsCount - 2 * joinedPairs;
    for (let i = 0; i < connectionsCount; i++) {
      const pair = i >= singles ? Math.floor((i - singles) / 2) : undefined;
      const view = views[(pair === undefined ? i : singles + 2 * pair) % views.length];
      participants.push({
        name: pair === undefined ? `session-${i}` : `pair-${pair}`,
        view,
        transport: i % 2 === 0 ? 'streamable-http' : 'sse',
        key: pair === undefined ? undefined : `pair-${pair}`,
        leader: pair === undefined || (i - singles) % 2 === 0,
      });
    }
    await Promise.all(
      participants.map(async (p) => {
        p.client = await connectClient(hub.url, { virtualServer: p.view, transport: p.transport, name: p.name, headers: p.key ? { 'x-mcp-hub-session': p.key } : {} });
      }),
    );
  });
  after(async () => {
    await Promise.all(participants.map((p) => p.client?.close().catch(() => undefined)));
    await hub?.close();
  });

  it(`keeps ${connectionsCount} concurrent sessions apart: tools, per-session instances and safe-mode ledgers`, async function () {
    const started = Date.now();
    const leaders = participants.filter((p) => p.leader);
    const itemOf = new Map<string, string>(); // logical session name -> the item it created
    const pidOf = new Map<string, number>();
    const allCreated = barrier(leaders.length, 60_000, 'not every leader created its item');
    const leadersDone = barrier(leaders.length, 60_000, 'not every leader finished');

    const run = async (p: Participant) => {
      const client = p.client as Client;
      assert.deepEqual((await client.listTools()).tools.map((tool) => tool.name).sort(), expectedTools[p.view], `${p.name} on ${p.view}: tools`);
      if (!p.leader) {
        // The follower of a joined pair shares its leader's instance and ledger: it checks them at the end.
        await leadersDone();
        const recalled = firstText(await client.callTool({ name: toolOn(p.view, 'inst', 'recall') }));
        assert.equal(recalled, `pid ${pidOf.get(p.name)} remembers ${p.name}-${rounds - 1}`, `${p.name}'s follower sees another instance`);
        return;
      }
      // Interleaved with everyone else's: a shared instance would show someone else's value.
      for (let round = 0; round < rounds; round++) {
        const value = `${p.name}-${round}`;
        await client.callTool({ name: toolOn(p.view, 'inst', 'remember'), arguments: { value } });
        const recalled = firstText(await client.callTool({ name: toolOn(p.view, 'inst', 'recall') }));
        const match = /^pid (\d+) remembers (.*)$/.exec(recalled);
        assert.ok(match, recalled);
        assert.equal(match[2], value, `${p.name} recalled another session's value`);
        const pid = Number(match[1]);
        if (round === 0) pidOf.set(p.name, pid);
        assert.equal(pid, pidOf.get(p.name), `${p.name} moved to another instance`);
      }
      const created = await client.callTool({ name: toolOn(p.view, 'demo', 'create_item'), arguments: { title: `${p.name}'s item` } });
      itemOf.set(p.name, (created.structuredContent as { id: string }).id);
      await allCreated();
      // Everyone tries the next session's item, at once; safe mode refuses every one.
      const next = leaders[(leaders.indexOf(p) + 1) % leaders.length];
      const refused = await client.callTool({ name: toolOn(p.view, 'demo', 'delete_item'), arguments: { id: itemOf.get(next.name) } });
      assert.equal(refused.isError, true, `${p.name} deleted ${next.name}'s item`);
      assert.match(firstText(refused), /^Safe mode refused 'delete_item': id .* another session owns it/);
      await leadersDone();
    };
    await Promise.all(participants.map(run));
    const workMs = Date.now() - started;

    // The admin API agrees: one session per leader, with its connections, its instance and its item only.
    const state = hub.hub.state();
    for (const leader of leaders) {
      const members = participants.filter((p) => p.name === leader.name);
      const session = state.sessions.find((s) => s.ownedIds.some((owned) => owned.id === itemOf.get(leader.name)));
      assert.ok(session, `${leader.name}: no session owns its item`);
      assert.deepEqual(session.ownedIds.map((owned) => owned.id), [itemOf.get(leader.name)], `${leader.name}: ledger`);
      assert.deepEqual(session.instances.map((instance) => [instance.upstream, instance.pid, instance.state]), [['inst', pidOf.get(leader.name), 'ready']], `${leader.name}: instances`);
      assert.deepEqual(session.connections.map((c) => c.transport).sort(), members.map((m) => m.transport).sort(), `${leader.name}: connections`);
      assert.ok(session.connections.every((c) => c.virtualServer === leader.view && c.client?.name === leader.name), `${leader.name}: connections of another view or client`);
      if (leader.key) assert.equal(session.key, leader.key);
    }
    const pids = [...pidOf.values()];
    assert.equal(new Set(pids).size, leaders.length, 'two sessions shared an instance');
    assert.equal(state.upstreams.find((u) => u.id === 'inst')?.perSession?.instances, leaders.length);
    // Each session may still delete its own item.
    await Promise.all(leaders.map(async (p) => assert.equal((await p.client?.callTool({ name: toolOn(p.view, 'demo', 'delete_item'), arguments: { id: itemOf.get(p.name) } }))?.isError, undefined)));
    console.log(`      ${participants.length} connections, ${leaders.length} logical sessions, ${leaders.length} instances: ${workMs} ms for ${leaders.length * (2 * rounds + 2)} calls and the checks`);

    // Ending the sessions ends their instances; closing the hub ends the rest.
    await Promise.all(participants.map((p) => p.client?.close()));
    const instancePids = readJsonLines<{ pid: number; event: string }>(join(dir, 'inst.jsonl')).filter((event) => event.event === 'started').map((event) => event.pid);
    await hub.close();
    await assertNoProcessLeftBehind(processesBefore, 'the load hub', 15_000);
    assert.deepEqual(instancePids.filter((pid) => processState(pid) !== 'gone'), [], 'instance processes left');
  });
});
