import assert from 'node:assert/strict';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { adminAuth, connectClient, demoUpstream, startTestHub, tempDir, transports, waitFor, type TestHub } from '../support/hubHarness';
import { readDemoLog } from '../support/demoLog';
import { rawInitialize, rawRequest } from '../support/rawHttp';

type Item = { id: string; title: string };

async function create(client: Client, title: string): Promise<string> {
  const result = await client.callTool({ name: 'create_item', arguments: { title } });
  return (result.structuredContent as Item).id;
}

async function call(client: Client, name: string, args: Record<string, unknown>) {
  const result = await client.callTool({ name, arguments: args });
  const text = (result.content as { type: string; text: string }[])[0]?.text ?? '';
  return { isError: result.isError === true, text };
}

describe('safe mode', function () {
  let hub: TestHub;
  let log: string;
  before(async () => {
    log = join(tempDir(), 'demo.log');
    hub = await startTestHub({
      servers: { demo: demoUpstream(log) },
      virtualServers: {
        editor: { upstreams: ['demo'], tools: ['*_item', 'list_items'], naming: 'bare' },
        unguarded: { upstreams: ['demo'], tools: ['*_item', 'list_items'], naming: 'bare', safeMode: false },
      },
      hub: { sessionIdleTimeout: 1 },
    });
  });
  after(async () => hub?.close());

  for (const transport of transports) {
    it(`lets only the creating session modify or delete an item (${transport})`, async function () {
      const alice = await connectClient(hub.url, { virtualServer: 'editor', transport, name: 'alice' });
      const bob = await connectClient(hub.url, { virtualServer: 'editor', transport, name: 'bob' });
      try {
        const id = await create(alice, 'alice owns this');
        // Bob sees the item when listing, which does not make it his.
        assert.ok((await call(bob, 'list_items', {})).text.includes(id));
        const before = readDemoLog(log).length;
        const refused = await call(bob, 'delete_item', { id });
        assert.equal(refused.isError, true);
        assert.match(refused.text, new RegExp(`Safe mode refused 'delete_item': id "${id}" \\(argument /id\\): another session owns it`));
        assert.equal((await call(bob, 'update_item', { id, title: 'mine now' })).isError, true);
        assert.deepEqual(readDemoLog(log).slice(before), [], 'a refused call reached the upstream');

        assert.equal((await call(alice, 'update_item', { id, title: 'still alice' })).isError, false);
        assert.equal((await call(alice, 'delete_item', { id })).isError, false);
        assert.deepEqual(readDemoLog(log).slice(before).map((r) => r.tool), ['update_item', 'delete_item']);
        const owned = hub.hub.state().sessions.flatMap((s) => s.ownedIds.map((o) => ({ ...o, client: s.connections[0]?.client?.name })));
        assert.deepEqual(owned.filter((o) => o.id === id).map((o) => [o.client, o.tool, o.upstream]), [['alice', 'create_item', 'demo']]);
      } finally {
        await alice.close();
        await bob.close();
      }
    });
  }

  /** Alice creates an item in a session, then that session ends in the named way. */
  const endings: { how: string; createThenEnd: () => Promise<string> }[] = [
    {
      how: 'closed by the client (DELETE)',
      createThenEnd: async () => {
        const alice = await connectClient(hub.url, { virtualServer: 'editor' });
        const id = await create(alice, 'orphan');
        await (alice.transport as StreamableHTTPClientTransport).terminateSession();
        await alice.close();
        return id;
      },
    },
    {
      how: 'killed from the admin API',
      createThenEnd: async () => {
        const alice = await connectClient(hub.url, { virtualServer: 'editor' });
        const id = await create(alice, 'orphan');
        const session = hub.hub.state().sessions.find((s) => s.ownedIds.some((o) => o.id === id));
        assert.ok(session);
        assert.equal((await rawRequest(`${hub.url}/admin/sessions/${session.id}`, { method: 'DELETE', headers: adminAuth })).status, 204);
        await alice.close();
        return id;
      },
    },
    {
      how: 'expired after the idle timeout (a client that vanished)',
      createThenEnd: async () => {
        const endpoint = `${hub.url}/servers/editor/mcp`;
        const sessionId = await rawInitialize(endpoint);
        const body = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'create_item', arguments: { title: 'orphan' } } });
        const answer = await rawRequest(endpoint, { method: 'POST', body, headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' } });
        const id = /"id":"([0-9a-f-]{36})"/.exec(answer.body)?.[1];
        assert.ok(id, answer.body);
        return id; // and never come back
      },
    },
  ];
  for (const { how, createThenEnd } of endings) {
    it(`keeps a session's ids its own after it has ended, refused to everyone and never asked: ${how}`, async function () {
      const id = await createThenEnd();
      await waitFor(() => hub.hub.state().tombstones.some((t) => t.owned.some((o) => o.id === id)), 5000, 'the ledger to become a tombstone');
      const before = readDemoLog(log).length;
      let asked = 0;
      const again = await connectClient(hub.url, {
        virtualServer: 'editor',
        name: 'alice-again',
        capabilities: { elicitation: { form: {} } },
        beforeConnect: (client) =>
          client.setRequestHandler(ElicitRequestSchema, () => {
            asked++;
            return { action: 'accept', content: { decision: 'once' } };
          }),
      });
      try {
        const refused = await call(again, 'delete_item', { id });
        assert.equal(refused.isError, true);
        assert.match(refused.text, /belongs to a session that ended at/);
        assert.equal(asked, 0, 'an ended session\'s thing is never asked about');
        assert.deepEqual(readDemoLog(log).slice(before), []);
      } finally {
        await again.close();
      }
    });
  }

  it('keeps each session\'s ownership across an upstream crash and reconnect', async function () {
    const alice = await connectClient(hub.url, { virtualServer: 'editor' });
    const bob = await connectClient(hub.url, { virtualServer: 'editor' });
    try {
      const id = await create(alice, 'survives');
      const pid = hub.hub.state().upstreams[0].pid;
      assert.ok(pid);
      process.kill(pid, 'SIGKILL');
      await waitFor(() => hub.hub.state().upstreams[0].state === 'ready' && hub.hub.state().upstreams[0].pid !== pid, 10_000, 'reconnect');
      const before = readDemoLog(log).length;
      assert.equal((await call(bob, 'delete_item', { id })).isError, true);
      assert.match((await call(bob, 'delete_item', { id })).text, /^Safe mode refused/);
      // Alice still owns it: her call reaches the new upstream process (which no longer has the item).
      const mine = await call(alice, 'delete_item', { id });
      assert.match(mine.text, /no item with id/);
      assert.deepEqual(readDemoLog(log).slice(before).map((r) => [r.tool, r.arguments.id]), [['delete_item', id]]);
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  it('shares ownership across the connections of one joined session (X-MCP-Hub-Session)', async function () {
    const headers = { 'x-mcp-hub-session': 'agent-7' };
    const first = await connectClient(hub.url, { virtualServer: 'editor', headers });
    const second = await connectClient(hub.url, { virtualServer: 'editor', transport: 'sse', headers });
    try {
      const id = await create(first, 'shared');
      assert.equal((await call(second, 'delete_item', { id })).isError, false);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('is off where a virtual server turns it off, and can be switched at run time from the admin API', async function () {
    const alice = await connectClient(hub.url, { virtualServer: 'editor' });
    const bob = await connectClient(hub.url, { virtualServer: 'editor' });
    const carol = await connectClient(hub.url, { virtualServer: 'unguarded' });
    try {
      const first = await create(alice, 'one');
      assert.equal((await call(carol, 'update_item', { id: first, title: 'carol may' })).isError, false);

      const off = await rawRequest(`${hub.url}/admin/safe-mode`, { method: 'POST', body: JSON.stringify({ enabled: false, upstream: 'demo' }), headers: adminAuth });
      assert.equal(off.status, 200);
      assert.equal(hub.hub.state().upstreams[0].safeMode, false);
      assert.equal((await call(bob, 'delete_item', { id: first })).isError, false);
      // What a session creates while safe mode is off is still its own once it is on again.
      const madeWhileOff = await create(alice, 'while off');

      assert.equal((await rawRequest(`${hub.url}/admin/safe-mode`, { method: 'POST', body: JSON.stringify({ enabled: true }), headers: adminAuth })).status, 200);
      assert.match((await call(bob, 'delete_item', { id: madeWhileOff })).text, /another session owns it/);
      assert.equal((await call(alice, 'delete_item', { id: madeWhileOff })).isError, false);
      const second = await create(alice, 'two');
      assert.equal((await call(bob, 'delete_item', { id: second })).isError, true);
      assert.equal((await rawRequest(`${hub.url}/admin/safe-mode`, { method: 'POST', body: '{"enabled":"yes"}', headers: adminAuth })).status, 400);
      assert.equal((await rawRequest(`${hub.url}/admin/safe-mode`, { method: 'POST', body: '{"enabled":true,"upstream":"nope"}', headers: adminAuth })).status, 404);
    } finally {
      await alice.close();
      await bob.close();
      await carol.close();
    }
  });
});

describe('safe mode: ended sessions kept for hub.safeMode.retainEnded', function () {
  this.timeout(60_000);
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({
      servers: { demo: demoUpstream(join(tempDir(), 'demo.log')) },
      virtualServers: { editor: { upstreams: ['demo'], tools: ['*_item'], naming: 'bare' } },
      hub: { safeMode: { retainEnded: 1 } },
    });
  });
  after(async () => hub?.close());

  it("releases what an ended session owned once it has been gone that long, and not before it ended", async function () {
    const alice = await connectClient(hub.url, { virtualServer: 'editor' });
    const id = await create(alice, 'kept a while');
    // Alive, it is hers however long it lives.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.ok(hub.hub.state().sessions.some((s) => s.ownedIds.some((o) => o.id === id)));
    await (alice.transport as StreamableHTTPClientTransport).terminateSession();
    await alice.close();
    assert.ok(hub.hub.state().tombstones.some((t) => t.owned.some((o) => o.id === id)), 'kept by a tombstone when its session ends');
    await waitFor(() => !hub.hub.state().tombstones.some((t) => t.owned.some((o) => o.id === id)), 40_000, 'the tombstone to be released');
    const bob = await connectClient(hub.url, { virtualServer: 'editor' });
    try {
      const asked = await call(bob, 'delete_item', { id });
      assert.match(asked.text, /was not created by this session\. To allow it/, 'nobody\'s now: asked, not refused as another\'s');
    } finally {
      await bob.close();
    }
  });
});
