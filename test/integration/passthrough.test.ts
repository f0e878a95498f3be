import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  McpError,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
  type CallToolResult,
  type ClientCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { rawRequest } from '../support/rawHttp';
import { spawnReady, type ReadyChild } from '../support/readyChild';
import {
  adminAuth,
  barrier,
  connectClient,
  firstText as textOf,
  fixtureUpstream,
  passthroughFixture,
  readJsonLines,
  startTestHub,
  tempDir,
  waitFor,
  type FixtureEvent,
  type TestHub,
  type TransportName,
} from '../support/hubHarness';

const readEvents = (file: string) => readJsonLines<FixtureEvent>(file);
const allClientCapabilities: ClientCapabilities = { sampling: {}, elicitation: { form: {} }, roots: {} };

describe('passthrough: notifications, progress, cancellation, client requests, subscriptions', function () {
  this.timeout(30_000);
  const dir = tempDir('hub-passthrough-');
  const webEvents = join(dir, 'web.jsonl');
  const localEvents = join(dir, 'local.jsonl');
  let web: ReadyChild;
  let hub: TestHub;
  const clients: Client[] = [];

  /** A client of the hub, closed after the test. */
  async function client(virtualServer: string, options: Parameters<typeof connectClient>[1] = {}): Promise<Client> {
    const connected = await connectClient(hub.url, { virtualServer, ...options });
    clients.push(connected);
    return connected;
  }

  before(async function () {
    web = await spawnReady(passthroughFixture, ['--http', '--port', '0'], { env: { FIXTURE_EVENT_LOG: webEvents } });
    hub = await startTestHub({
      servers: {
        // One shared Streamable HTTP upstream and one shared stdio upstream.
        web: { type: 'http', url: web.url },
        local: { command: process.execPath, args: [passthroughFixture, '--stdio'], env: { FIXTURE_EVENT_LOG: localEvents }, timeout: 400, attribution: 'single-flight' },
        other: fixtureUpstream(join(dir, 'other.jsonl')),
      },
      virtualServers: {
        web: { upstreams: ['web'], naming: 'bare' },
        local: { upstreams: ['local'], naming: 'bare' },
        other: { upstreams: ['other'] },
      },
    });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(async () => {
    await hub?.close();
    await web?.stop();
  });

  describe('logging', function () {
    /** A client that records the log messages it receives as "level:tag". */
    async function loggingClient(virtualServer: string, transport: TransportName = 'streamable-http'): Promise<{ client: Client; logs: string[] }> {
      const logs: string[] = [];
      const connected = await client(virtualServer, {
        transport,
        beforeConnect: (c) =>
          c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
            const data = n.params.data as { tag: string };
            logs.push(`${n.params.level}:${data.tag}`);
          }),
      });
      return { client: connected, logs };
    }

    it('delivers an upstream\'s log messages only to the session whose call they belong to, at the level it set (shared HTTP upstream)', async function () {
      const alice = await loggingClient('web');
      const bob = await loggingClient('web', 'sse');
      await alice.client.setLoggingLevel('warning');
      await bob.client.setLoggingLevel('debug');
      // Both calls are in flight together: only the request stream tells the logs apart.
      await Promise.all([
        alice.client.callTool({ name: 'log', arguments: { tag: 'alice', delayMs: 200 } }),
        bob.client.callTool({ name: 'log', arguments: { tag: 'bob', delayMs: 200 } }),
      ]);
      await waitFor(() => alice.logs.length === 2 && bob.logs.length === 4, 2_000, 'log messages');
      assert.deepEqual(alice.logs, ['warning:alice', 'error:alice']);
      assert.deepEqual(bob.logs, ['debug:bob', 'info:bob', 'warning:bob', 'error:bob']);
    });

    it('delivers a stdio upstream\'s logs to the one session with a call in flight, and to nobody when two are', async function () {
      const alice = await loggingClient('local');
      const bob = await loggingClient('local');
      await alice.client.callTool({ name: 'log', arguments: { tag: 'alice' } });
      await waitFor(() => alice.logs.length === 4, 2_000, 'log messages');
      assert.deepEqual(alice.logs, ['debug:alice', 'info:alice', 'warning:alice', 'error:alice']);

      // While Alice's call runs, the stdio wire cannot tell whose Bob's logs are: nobody gets them.
      const slow = alice.client.callTool({ name: 'slow', arguments: { tag: 'alice', steps: 3, stepMs: 100 } }, undefined, { onprogress: () => undefined });
      await waitFor(() => readEvents(localEvents).some((e) => e.event === 'slow-started'), 2_000, 'slow call started');
      await bob.client.callTool({ name: 'log', arguments: { tag: 'bob' } });
      await slow;
      assert.deepEqual(bob.logs, []);
      assert.equal(alice.logs.filter((entry) => entry.endsWith(':bob')).length, 0);
      assert.ok(hub.logLines.some((line) => /log message from upstream 'local' kept in the hub's log only: requests of 2 sessions/.test(line)));
    });
  });

  describe('server-to-client requests', function () {
    const cases = [
      { tool: 'sample', schema: CreateMessageRequestSchema, answer: (name: string) => ({ role: 'assistant', content: { type: 'text', text: `reply to ${name}` }, model: 'test' }), expect: (name: string) => `sampled for ${name}: reply to ${name}` },
      { tool: 'elicit', schema: ElicitRequestSchema, answer: (name: string) => ({ action: 'accept', content: { name } }), expect: (name: string) => `elicited for ${name}: accept {"name":"${name}"}` },
      { tool: 'roots', schema: ListRootsRequestSchema, answer: (name: string) => ({ roots: [{ uri: `file:///home/${name}` }] }), expect: (name: string) => `roots for ${name}: file:///home/${name}` },
    ] as const;

    for (const { tool, schema, answer, expect } of cases) {
      it(`routes ${tool} requests of a shared upstream to the session being served, two sessions at once (one per transport)`, async function () {
        const bothAsked = barrier(2, 5_000, 'the other session never got its request');
        const asked: Record<string, string[]> = { alice: [], bob: [] };
        const answering = (name: 'alice' | 'bob') => (c: Client) =>
          c.setRequestHandler(schema, async (request) => {
            asked[name].push(JSON.stringify(request.params ?? {}));
            await bothAsked();
            return answer(name) as never;
          });
        const alice = await client('web', { capabilities: allClientCapabilities, beforeConnect: answering('alice') });
        const bob = await client('web', { capabilities: allClientCapabilities, beforeConnect: answering('bob'), transport: 'sse' });
        const [fromAlice, fromBob] = await Promise.all([
          alice.callTool({ name: tool, arguments: { tag: 'alice' } }),
          bob.callTool({ name: tool, arguments: { tag: 'bob' } }),
        ]);
        assert.equal(textOf(fromAlice), expect('alice'));
        assert.equal(textOf(fromBob), expect('bob'));
        assert.equal(asked.alice.length, 1);
        assert.equal(asked.bob.length, 1);
        if (tool !== 'roots') {
          assert.match(asked.alice[0], /alice/);
          assert.doesNotMatch(asked.alice[0], /bob/);
          assert.match(asked.bob[0], /bob/);
        }
      });
    }

    it('refuses a request to a client that did not declare the capability, with an error the upstream sees', async function () {
      const plain = await client('web');
      const result = await plain.callTool({ name: 'sample', arguments: { tag: 'plain' } });
      assert.equal((result as CallToolResult).isError, true);
      assert.match(textOf(result), /refused sampling\/createMessage from upstream 'web': the client of this session did not declare the sampling capability/);
      const noUrl = await plain.callTool({ name: 'elicit', arguments: { tag: 'plain' } });
      assert.match(textOf(noUrl), /did not declare the elicitation capability/);
    });

    it('refuses a stdio upstream\'s request while two sessions have calls in flight, and routes it when one has', async function () {
      let aliceAsked = 0;
      const alice = await client('local', {
        capabilities: allClientCapabilities,
        beforeConnect: (c) =>
          c.setRequestHandler(CreateMessageRequestSchema, () => {
            aliceAsked++;
            return { role: 'assistant', content: { type: 'text', text: 'alice answers' }, model: 'test' };
          }),
      });
      const bob = await client('local', {
        capabilities: allClientCapabilities,
        beforeConnect: (c) => c.setRequestHandler(CreateMessageRequestSchema, () => ({ role: 'assistant', content: { type: 'text', text: 'bob answers' }, model: 'test' })),
      });
      const slow = alice.callTool({ name: 'slow', arguments: { tag: 'alice', steps: 3, stepMs: 100 } }, undefined, { onprogress: () => undefined });
      await waitFor(() => readEvents(localEvents).filter((e) => e.event === 'slow-started').length > 0, 2_000, 'slow call started');
      const refused = await bob.callTool({ name: 'sample', arguments: { tag: 'bob' } });
      await slow;
      assert.match(textOf(refused), /refused sampling\/createMessage from upstream 'local': requests of 2 sessions were in flight/);
      assert.equal(aliceAsked, 0, 'Alice was never asked on Bob\'s behalf');
      assert.equal(textOf(await bob.callTool({ name: 'sample', arguments: { tag: 'bob' } })), 'sampled for bob: bob answers');
    });
  });

  describe('cancellation and timeouts', function () {
    const cancelledTags = () => readEvents(localEvents).filter((e) => e.event === 'cancelled').map((e) => e.tag);

    it('cancels the upstream request when the client cancels its call', async function () {
      const alice = await client('local');
      const aborter = new AbortController();
      const call = alice.callTool({ name: 'slow', arguments: { tag: 'client-cancel', steps: 50, stepMs: 50 } }, undefined, {
        signal: aborter.signal,
        onprogress: () => undefined,
      });
      await waitFor(() => readEvents(localEvents).some((e) => e.event === 'slow-started' && e.tag === 'client-cancel'), 2_000, 'call started');
      aborter.abort('changed my mind');
      await assert.rejects(call);
      await waitFor(() => cancelledTags().includes('client-cancel'), 3_000, 'upstream saw the cancellation');
    });

    it('cancels a session\'s calls in flight when the session is killed', async function () {
      const alice = await client('local');
      const call = alice.callTool({ name: 'slow', arguments: { tag: 'killed', steps: 50, stepMs: 50 } }, undefined, { onprogress: () => undefined });
      call.catch(() => undefined);
      await waitFor(() => readEvents(localEvents).some((e) => e.event === 'slow-started' && e.tag === 'killed'), 2_000, 'call started');
      const sessionId = (alice.transport as StreamableHTTPClientTransport).sessionId;
      assert.equal((await rawRequest(`${hub.url}/admin/sessions/${sessionId}`, { method: 'DELETE', headers: adminAuth })).status, 204);
      await waitFor(() => cancelledTags().includes('killed'), 3_000, 'upstream saw the cancellation');
    });

    it('cancels the upstream request on timeout, but not while progress keeps coming', async function () {
      const alice = await client('local');
      // 8 x 100 ms against a 400 ms timeout: progress restarts it.
      const kept = await alice.callTool({ name: 'slow', arguments: { tag: 'progressing', steps: 8, stepMs: 100 } }, undefined, { onprogress: () => undefined });
      assert.equal(textOf(kept), 'slow done for progressing');
      await assert.rejects(alice.callTool({ name: 'slow', arguments: { tag: 'silent', steps: 8, stepMs: 100 } }), (error: unknown) => {
        assert.ok(error instanceof McpError);
        assert.equal(error.code, -32001);
        assert.match(error.message, /upstream 'local' did not answer within 400 ms/);
        return true;
      });
      await waitFor(() => cancelledTags().includes('silent'), 3_000, 'upstream saw the cancellation');
    });
  });

  describe('subscriptions', function () {
    it('sends resources/updated only to subscribers, and subscribes the upstream once per URI', async function () {
      const updates: Record<string, string[]> = { alice: [], bob: [], carol: [] };
      const watching = (name: string) => (c: Client) =>
        c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates[name].push(n.params.uri));
      const alice = await client('web', { beforeConnect: watching('alice') });
      const bob = await client('web', { beforeConnect: watching('bob') });
      const carol = await client('web', { beforeConnect: watching('carol') });
      const upstreamSaw = (event: string) => readEvents(webEvents).filter((e) => e.event === event && e.uri === 'fixture://watched/a').length;

      await alice.subscribeResource({ uri: 'fixture://watched/a' });
      await carol.subscribeResource({ uri: 'fixture://watched/a' });
      assert.equal(upstreamSaw('subscribe'), 1);

      await bob.callTool({ name: 'touch', arguments: { uri: 'fixture://watched/a' } });
      await waitFor(() => updates.alice.length === 1 && updates.carol.length === 1, 2_000, 'updates');
      assert.deepEqual(updates.bob, []);

      await alice.unsubscribeResource({ uri: 'fixture://watched/a' });
      assert.equal(upstreamSaw('unsubscribe'), 0, 'Carol still subscribes');
      await bob.callTool({ name: 'touch', arguments: { uri: 'fixture://watched/a' } });
      await waitFor(() => updates.carol.length === 2, 2_000, 'second update');
      assert.deepEqual(updates.alice, ['fixture://watched/a']);

      // Carol leaving is the last subscriber leaving.
      await (carol.transport as StreamableHTTPClientTransport).terminateSession();
      await waitFor(() => upstreamSaw('unsubscribe') === 1, 2_000, 'upstream unsubscribed');
    });

    it('refuses subscriptions outside the scope, and to upstreams that do not support them', async function () {
      const alice = await client('web');
      await assert.rejects(alice.subscribeResource({ uri: 'fixture://static/alpha' }), (error: unknown) => error instanceof McpError && error.code === -32002);
      const other = await client('other');
      await assert.rejects(other.subscribeResource({ uri: 'fixture://static/alpha' }), (error: unknown) => {
        assert.ok(error instanceof McpError);
        assert.equal(error.code, -32601);
        assert.match(error.message, /upstream 'other' does not support resource subscriptions/);
        return true;
      });
    });
  });

  it('tells exactly the sessions whose virtual server changed when an upstream\'s tools change', async function () {
    const changed: Record<string, number> = { web: 0, other: 0 };
    const counting = (name: string) => (c: Client) => c.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed[name]++);
    const alice = await client('web', { beforeConnect: counting('web') });
    await client('other', { beforeConnect: counting('other') });
    const name = `fresh_${Date.now()}`;
    await alice.callTool({ name: 'add_tool', arguments: { name } });
    await waitFor(async () => (await alice.listTools()).tools.some((t) => t.name === name), 3_000, 'the new tool');
    await waitFor(() => changed.web >= 1, 2_000, 'tools/list_changed');
    assert.equal(changed.other, 0);
    assert.equal(textOf(await alice.callTool({ name })), `${name} ran`);
  });

  it('passes results, tool metadata and resources through untouched', async function () {
    const direct = new Client({ name: 'direct', version: '1.0.0' });
    await direct.connect(new StreamableHTTPClientTransport(new URL(web.url)));
    try {
      const viaHub = await client('web');
      const pick = async (c: Client) => (await c.listTools()).tools.find((t) => t.name === 'rich');
      assert.deepEqual(await pick(viaHub), await pick(direct));
      const directTool = await pick(direct);
      assert.ok(directTool?.outputSchema && directTool.icons && directTool._meta && directTool.annotations, 'the fixture declares them');
      assert.deepEqual(await viaHub.callTool({ name: 'rich' }), await direct.callTool({ name: 'rich' }));
      assert.deepEqual(await viaHub.readResource({ uri: 'fixture://watched/b' }), await direct.readResource({ uri: 'fixture://watched/b' }));
      assert.deepEqual(await viaHub.ping(), {});
    } finally {
      await direct.close();
    }
  });
});
