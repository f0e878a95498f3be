import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { adminAuth, connectClient, demoUpstream, firstText, fixturesDir, startTestHub, tempDir, type TestHub } from '../../support/hubHarness';
import { rawRequest } from '../../support/rawHttp';

/** Break 3: a session key equal to another session's id must not reach that session's state. */
describe('attack: session squatting by key', function () {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({
      servers: {
        inst: { command: process.execPath, args: [join(fixturesDir, 'faultFixture.js')], env: { FIXTURE_EVENT_LOG: join(tempDir(), 'events.log') }, perSession: true, warm: 0 },
        demo: demoUpstream(),
      },
      virtualServers: { work: { upstreams: ['inst', 'demo'], naming: 'bare' } },
    });
  });
  after(async () => hub?.close());

  it("keeps B out of A's instance and ledger, and admin kill ends the session it names", async function () {
    const alice = await connectClient(hub.url, { virtualServer: 'work', name: 'alice' });
    const aliceId = (alice.transport as StreamableHTTPClientTransport).sessionId as string;
    // Bob joins "the session" whose key is Alice's connection id.
    const bob = await connectClient(hub.url, { virtualServer: 'work', name: 'bob', headers: { 'x-mcp-hub-session': aliceId } });
    try {
      const remembered = firstText(await alice.callTool({ name: 'remember', arguments: { value: 'alice-secret' } }));
      const alicePid = /^pid (\d+)/.exec(remembered)?.[1];
      const itemId = ((await alice.callTool({ name: 'create_item', arguments: { title: 'alice' } })).structuredContent as { id: string }).id;

      const recalled = firstText(await bob.callTool({ name: 'recall', arguments: {} }));
      assert.doesNotMatch(recalled, /alice-secret/, "Bob read Alice's instance");
      assert.notEqual(/^pid (\d+)/.exec(recalled)?.[1], alicePid, "Bob got Alice's instance");
      assert.equal((await bob.callTool({ name: 'delete_item', arguments: { id: itemId } })).isError, true, "Bob deleted Alice's item");

      const sessions = hub.hub.state().sessions;
      const aliceSession = sessions.find((s) => s.connections.some((c) => c.client?.name === 'alice'));
      const bobSession = sessions.find((s) => s.connections.some((c) => c.client?.name === 'bob'));
      assert.ok(aliceSession && bobSession);
      assert.notEqual(aliceSession.id, bobSession.id, 'two sessions share an id');

      // Killing by Alice's connection id ends Alice, and Bob keeps working.
      assert.equal((await rawRequest(`${hub.url}/admin/sessions/${aliceId}`, { method: 'DELETE', headers: adminAuth })).status, 204);
      const after = hub.hub.state().sessions;
      assert.ok(!after.some((s) => s.connections.some((c) => c.client?.name === 'alice')), 'Alice was not ended');
      assert.ok(after.some((s) => s.connections.some((c) => c.client?.name === 'bob')), 'Bob was ended instead');
      assert.match(firstText(await bob.callTool({ name: 'recall', arguments: {} })), /^pid \d+ remembers nothing/);
      // Each session is addressed by its own id in the admin API.
      assert.equal((await rawRequest(`${hub.url}/admin/sessions/${encodeURIComponent(bobSession.id)}`, { method: 'DELETE', headers: adminAuth })).status, 204);
      assert.equal(hub.hub.state().sessions.length, 0);
    } finally {
      await alice.close().catch(() => undefined);
      await bob.close().catch(() => undefined);
    }
  });
});
