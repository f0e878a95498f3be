import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, passthroughFixture, readJsonLines, startTestHub, tempDir, waitFor, type FixtureEvent, type TestHub } from '../support/hubHarness';
import { spawnReady, type ReadyChild } from '../support/readyChild';

const watched = 'fixture://watched/a';

/**
 * `resources/subscribe` on a per-session upstream goes to the session's own instance, started for
 * it when it has none yet, and that instance's updates reach exactly the subscribed connections of
 * that session (issue 27: the capability was read before the instance existed).
 */
describe('resource subscriptions on a per-session upstream', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let web: ReadyChild | undefined;
  const clients: Client[] = [];
  const updates = new Map<string, string[]>();

  async function connection(session: string, name: string): Promise<Client> {
    updates.set(name, []);
    const client = await connectClient(hub.url, {
      virtualServer: 'work',
      headers: { 'x-mcp-hub-session': session },
      name,
      beforeConnect: (c) => c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.get(name)?.push(n.params.uri)),
    });
    clients.push(client);
    return client;
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    updates.clear();
    await hub?.close();
    await web?.stop();
    web = undefined;
  });

  for (const transport of ['stdio', 'streamable-http'] as const) {
    it(`subscribes in the session's own instance, started on demand, and tells only that session's subscribers (${transport}, warm 0)`, async function () {
      const events = join(tempDir(), 'events.jsonl');
      let upstream: Record<string, unknown>;
      if (transport === 'stdio') {
        upstream = { command: process.execPath, args: [passthroughFixture, '--stdio'], env: { FIXTURE_EVENT_LOG: events } };
      } else {
        web = await spawnReady(passthroughFixture, ['--http', '--port', '0'], { env: { FIXTURE_EVENT_LOG: events } });
        upstream = { type: 'http', url: web.url };
      }
      hub = await startTestHub({ servers: { inst: { ...upstream, perSession: true, warm: 0 } }, virtualServers: { work: { upstreams: ['inst'], naming: 'bare' } } });
      const a1 = await connection('session-a', 'a1');
      const a2 = await connection('session-a', 'a2');
      const b1 = await connection('session-b', 'b1');

      // Neither session has an instance yet: subscribing starts one for each.
      await a1.subscribeResource({ uri: watched });
      await b1.subscribeResource({ uri: watched });
      const subscribed = readJsonLines<FixtureEvent>(events).filter((e) => e.event === 'subscribe' && e.uri === watched);
      assert.equal(subscribed.length, 2, 'two instances, each subscribed once');
      const instances = hub.hub.state().sessions.map((s) => s.instances.length);
      assert.deepEqual(instances, [1, 1]);

      await a2.callTool({ name: 'touch', arguments: { uri: watched } });
      await waitFor(() => updates.get('a1')?.length === 1, 10_000, "a1 told of its session's update");
      await b1.callTool({ name: 'touch', arguments: { uri: watched } });
      await waitFor(() => updates.get('b1')?.length === 1, 10_000, "b1 told of its session's update");
      // Each instance's update went to its own session's subscriber only (b1 would have two otherwise).
      assert.deepEqual(Object.fromEntries(updates), { a1: [watched], a2: [], b1: [watched] });

      await a1.unsubscribeResource({ uri: watched });
      await waitFor(() => readJsonLines<FixtureEvent>(events).some((e) => e.event === 'unsubscribe' && e.uri === watched), 10_000, 'the instance unsubscribed');

      // A session with no instance has nothing to unsubscribe: no instance is started to say so.
      const c1 = await connection('session-c', 'c1');
      await c1.unsubscribeResource({ uri: watched });
      assert.deepEqual(hub.hub.state().sessions.find((s) => s.id === 'key:session-c')?.instances, []);
    });
  }
});
