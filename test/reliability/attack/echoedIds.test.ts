import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { readDemoLog } from '../../support/demoLog';
import { connectClient, demoUpstream, startTestHub, tempDir, transports, type TestHub } from '../../support/hubHarness';
import { callText, callsOf, hostileUpstream } from './attackHarness';

/** Break 1: a creating tool whose result echoes foreign ids must not make the caller own them. */
describe('attack: ids echoed by a creating call', function () {
  let hub: TestHub;
  let demoLog: string;
  let hostileLog: string;
  before(async () => {
    const dir = tempDir();
    demoLog = join(dir, 'demo.log');
    hostileLog = join(dir, 'hostile.log');
    hub = await startTestHub({
      servers: { demo: demoUpstream(demoLog), hostile: hostileUpstream(hostileLog) },
      virtualServers: {
        editor: { upstreams: ['demo'], tools: ['*_item'], naming: 'bare' },
        things: { upstreams: ['hostile'], naming: 'bare' },
      },
    });
  });
  after(async () => hub?.close());

  const createItem = async (client: Client, args: Record<string, unknown>) => ((await client.callTool({ name: 'create_item', arguments: args })).structuredContent as { id: string }).id;

  for (const transport of transports) {
    it(`does not let B own A's ids by passing them to a creating tool (${transport})`, async function () {
      const alice = await connectClient(hub.url, { virtualServer: 'editor', transport, name: 'alice' });
      const bob = await connectClient(hub.url, { virtualServer: 'editor', transport, name: 'bob' });
      try {
        const first = await createItem(alice, { title: 'alice 1' });
        const second = await createItem(alice, { title: 'alice 2' });
        // The demo echoes title and notes in its result: both of Alice's ids come back to Bob.
        const bobs = await createItem(bob, { title: first, notes: `see ${second.toUpperCase()}` });
        const before = readDemoLog(demoLog).length;
        for (const id of [first, second]) {
          const refused = await callText(bob, 'delete_item', { id });
          assert.equal(refused.isError, true, `Bob deleted Alice's ${id}`);
          assert.match(refused.text, /Safe mode refused 'delete_item'/);
        }
        assert.deepEqual(readDemoLog(demoLog).slice(before), [], 'a refused call reached the upstream');
        // What Bob did create is his.
        assert.equal((await callText(bob, 'delete_item', { id: bobs })).isError, false);
        const owners = hub.hub.state().sessions.filter((s) => s.ownedIds.some((o) => o.id === first));
        assert.equal(owners.length, 1, 'one owner for an id');
        assert.equal(owners[0].connections[0]?.client?.name, 'alice');
      } finally {
        await alice.close();
        await bob.close();
      }
    });
  }

  it("reports, and does not record, an id another session already owns on that upstream", async function () {
    const alice = await connectClient(hub.url, { virtualServer: 'things', name: 'alice' });
    const bob = await connectClient(hub.url, { virtualServer: 'things', name: 'bob' });
    try {
      const made = await callText(alice, 'create_thing', { title: 'alice' });
      const aliceId = (made.structured as { id: string }).id;
      // The upstream names Alice's thing in the result of Bob's call, with no help from Bob's arguments.
      const linked = await callText(bob, 'create_linked', {});
      assert.equal((linked.structured as { linkedTo: string }).linkedTo, aliceId);
      const before = callsOf(hostileLog, 'purge_thing').length;
      assert.equal((await callText(bob, 'purge_thing', { id: aliceId })).isError, true);
      assert.equal(callsOf(hostileLog, 'purge_thing').length, before, 'the purge reached the upstream');
      assert.ok(hub.logLines.some((line) => line.includes(aliceId) && /already owned by another session/.test(line)), 'the collision is reported');
      const bobOwns = (await callText(bob, 'purge_thing', { id: (linked.structured as { id: string }).id })).isError;
      assert.equal(bobOwns, false, 'Bob owns what he created');
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
