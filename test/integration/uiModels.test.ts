import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AdminClient, type HubState } from '../../src/client/adminClient';
import { ActivityList } from '../../src/ui/activityList';
import { buildActivityView, filterActivity } from '../../src/ui/activityView';
import { buildDashboard } from '../../src/ui/dashboardModel';
import { parseFromDashboard } from '../../src/ui/messages';
import { buildServerDefinitions, workspaceSessionKey } from '../../src/ui/serverDefinitions';
import { buildTree } from '../../src/ui/treeModel';
import { connectClient, demoUpstream, passthroughFixture, startTestHub, testAdminToken, testToken, waitFor, type TestHub } from '../support/hubHarness';
import { findNode } from '../support/tree';

const find = findNode;

/** The models behind the VS Code views, fed by a real hub through its admin API. */
describe('tree, dashboard and server definitions from a real hub', function () {
  this.timeout(30_000);
  let hub: TestHub;
  let admin: AdminClient;
  const clients: Client[] = [];

  before(async () => {
    hub = await startTestHub({
      servers: {
        demo: demoUpstream(),
        browser: { command: process.execPath, args: [passthroughFixture, '--stdio'], perSession: true, warm: 0 },
      },
      virtualServers: {
        editor: { title: 'Editor', upstreams: ['demo'], tools: ['demo/create_item', 'demo/delete_item', 'demo/list_items'], naming: 'bare' },
        browser: { upstreams: ['browser'], tools: ['browser/recall'], naming: 'bare' },
      },
    });
    admin = new AdminClient(hub.url, testAdminToken);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await hub?.close();
  });

  it('shows a session with its client, its per-session instance and its owned ids', async function () {
    const alice = await connectClient(hub.url, { virtualServer: 'editor', name: 'alice-agent', headers: { 'x-mcp-hub-session': 'alice' } });
    const aliceBrowser = await connectClient(hub.url, { virtualServer: 'browser', headers: { 'x-mcp-hub-session': 'alice' } });
    clients.push(alice, aliceBrowser);
    const created = (await alice.callTool({ name: 'create_item', arguments: { title: 'mine' } })) as CallToolResult;
    const id = /[0-9a-f-]{36}/.exec(JSON.stringify(created))?.[0];
    assert.ok(id);
    await aliceBrowser.callTool({ name: 'recall' });

    const state = await admin.state();
    const tree = buildTree(state);
    assert.deepEqual(tree.map((n) => n.label), ['Virtual Servers', 'Sessions', 'Upstreams'], 'no ended sessions yet: no fourth root');
    const session = find(tree, (n) => n.contextValue === 'session' && n.target === 'key:alice');
    assert.ok(session, 'the session node');
    assert.match(session.label, /alice-agent 1\.0\.0/);
    const pid = state.sessions.find((s) => s.key === 'alice')?.instances[0]?.pid;
    assert.ok(pid);
    assert.match(find(session.children, (n) => n.contextValue === 'instance')?.description ?? '', new RegExp(`ready · pid ${pid}`));
    assert.ok(find(session.children, (n) => n.contextValue === 'ownedId' && n.label === id), 'the owned id');
    const editorTools = find(tree, (n) => n.id === 'vs:editor/Tools');
    assert.deepEqual(editorTools?.children?.filter((n) => n.checked).map((n) => n.label).sort(), ['create_item', 'delete_item', 'list_items']);

    const row = buildDashboard(state).sessions.find((s) => s.id === 'key:alice');
    assert.equal(row?.who, 'alice-agent 1.0.0');
    assert.equal(row?.virtualServers, 'editor, browser');
    assert.equal(row?.calls, 2);
    assert.equal(row?.ownedIds, 1);
    assert.deepEqual(row?.instances, [`browser: ready (pid ${pid})`]);
  });

  it('gives definitions that a real client can use: token, workspace session, exactly the scoped tools', async function () {
    const state = await admin.state();
    const sessionKey = workspaceSessionKey('file:///home/me/project', 'my project');
    assert.match(sessionKey, /^vscode:my-project-[0-9a-f]{12}$/);
    const definitions = buildServerDefinitions(state, { token: testToken, sessionKey, includeGlobal: false });
    assert.deepEqual(definitions.map((d) => d.id), ['editor', 'browser']);
    const editor = definitions[0];
    const client = new Client({ name: 'definition-user', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(editor.uri), { requestInit: { headers: editor.headers } }));
    clients.push(client);
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['create_item', 'delete_item', 'list_items']);
    assert.ok((await admin.state()).sessions.some((s) => s.key === sessionKey), 'the workspace is one logical session');
    const withGlobal = buildServerDefinitions(state, { token: testToken, sessionKey, includeGlobal: true });
    assert.equal(withGlobal.at(-1)?.uri, `${hub.url}/mcp`);
  });

  it('streams state changes, and kills a session through the admin client', async function () {
    const states: HubState[] = [];
    const lost: unknown[] = [];
    const watching = admin.watch((state) => states.push(state), (error) => lost.push(error));
    try {
      const bob = await connectClient(hub.url, { virtualServer: 'editor', headers: { 'x-mcp-hub-session': 'bob' } });
      clients.push(bob);
      await waitFor(() => states.at(-1)?.sessions.some((s) => s.key === 'bob') === true, 3_000, 'bob in the event stream');
      assert.equal(await admin.killSession('key:bob'), true);
      await waitFor(() => states.at(-1)?.sessions.some((s) => s.key === 'bob') === false, 3_000, 'bob gone from the event stream');
      assert.equal(await admin.killSession('key:bob'), false);
      assert.deepEqual(lost, []);
    } finally {
      watching.dispose();
    }
  });

  it("follows the hub's activity into the Activity view's list: the backlog, then each call as it happens", async function () {
    const list = new ActivityList();
    let connections = 0;
    const lost: unknown[] = [];
    const following = admin.followActivity(
      (record) => list.add(record),
      () => {
        connections++;
        list.clear();
      },
      (error) => lost.push(error),
    );
    try {
      const carol = await connectClient(hub.url, { virtualServer: 'editor', headers: { 'x-mcp-hub-session': 'carol' } });
      clients.push(carol);
      await carol.callTool({ name: 'list_items', arguments: {} });
      await carol.callTool({ name: 'delete_item', arguments: { id: 'nobody-made-this' } });
      await waitFor(() => filterActivity(list.records, { kind: 'call', tool: 'delete_item' }).length === 1, 3_000, "carol's calls in the activity stream");
      const view = buildActivityView(list.records, { kind: 'call', session: 'key:carol' }, 0);
      assert.deepEqual(view.rows.map((row) => row.what), ['demo/delete_item', 'demo/list_items'], 'newest first');
      assert.ok(view.options.tool.some((option) => option.value === 'delete_item'));
      assert.equal(connections, 1);
      assert.deepEqual(lost, []);
    } finally {
      following.dispose();
    }
  });

  it('shows chat sessions under their workspace session, in the tree and in the dashboard', async function () {
    const ws = await connectClient(hub.url, { virtualServer: 'browser', name: 'chatty', headers: { 'x-mcp-hub-session': 'carol' } });
    clients.push(ws);
    for (const conversation of ['chat-one', 'chat-two']) await ws.callTool({ name: 'recall', arguments: {}, _meta: { 'vscode.conversationId': conversation } });
    const state = await admin.state();
    const sessions = find(buildTree(state), (n) => n.label === 'Sessions');
    assert.equal(sessions?.description, String(state.sessions.filter((s) => !s.chat).length), 'chats are not counted as sessions');
    const carol = find(sessions?.children, (n) => n.target === 'key:carol');
    assert.ok(carol, 'the workspace session');
    const chats = (carol.children ?? []).filter((n) => n.label.startsWith('chat '));
    assert.deepEqual(chats.map((n) => n.label).sort(), ['chat chat-one', 'chat chat-two']);
    for (const chat of chats) {
      assert.equal(chat.contextValue, 'session', 'each chat has Kill');
      assert.ok(find(chat.children, (n) => n.contextValue === 'instance'), 'with its own instance');
    }
    const rows = buildDashboard(state).sessions;
    const at = rows.findIndex((row) => row.id === 'key:carol');
    assert.deepEqual(rows.slice(at + 1, at + 3).map((row) => [row.who, row.chatOf]).sort(), [['chat chat-one', 'key:carol'], ['chat chat-two', 'key:carol']]);
    // A chat's row shows its own calls' time, as its workspace's row does (a chat has no connection of its own).
    for (const row of rows.slice(at, at + 3)) {
      assert.ok(row.averageLatencyMs !== null && row.averageLatencyMs > 0, `${row.who}: ${row.calls} calls, average ${String(row.averageLatencyMs)} ms`);
      if (row.chatOf) assert.equal(row.errors, 0, `${row.who}: ${row.errors} errors of ${row.calls}`);
    }
  });

  it("shows what ended sessions still own, and releases it through the admin client", async function () {
    const dave = await connectClient(hub.url, { virtualServer: 'editor', name: 'dave-agent' });
    const created = (await dave.callTool({ name: 'create_item', arguments: { title: 'left behind' } })) as CallToolResult;
    const id = /[0-9a-f-]{36}/.exec(JSON.stringify(created))?.[0];
    assert.ok(id);
    const session = (await admin.state()).sessions.find((s) => s.ownedIds.some((o) => o.id === id));
    assert.ok(session);
    assert.ok(await admin.killSession(session.id));
    await dave.close();
    await waitFor(async () => (await admin.state()).tombstones.some((t) => t.session === session.id), 5_000, 'the tombstone');

    const state = await admin.state();
    const tree = buildTree(state);
    assert.equal(tree.at(-1)?.label, "Ended sessions' things");
    const tombstone = find(tree, (n) => n.contextValue === 'tombstone' && n.target === session.id);
    assert.ok(tombstone, 'the ended session, with Release');
    assert.match(tombstone.description ?? '', /ended .* ago · ended from the admin API/);
    const owned = find(tombstone.children, (n) => n.contextValue === 'tombstone.id' && n.label === id);
    assert.ok(owned, 'each thing it owned, with Release');
    const row = buildDashboard(state).tombstones.find((t) => t.session === session.id);
    assert.deepEqual(row?.owned, [`id ${id} (demo)`]);
    assert.match(buildDashboard(state).hub.ownership, /ownership in memory only: \d+ owned, \d+ ended sessions/);

    assert.equal(await admin.releaseTombstones(JSON.parse(owned.target ?? '{}') as { upstream: string; kind: string; id: string }), 1);
    assert.ok(!(await admin.state()).tombstones.some((t) => t.session === session.id));
    assert.deepEqual(parseFromDashboard({ type: 'releaseTombstone', sessionId: session.id }), { type: 'releaseTombstone', sessionId: session.id });
  });

  it('checks webview messages instead of trusting them', function () {
    assert.deepEqual(parseFromDashboard({ type: 'killSession', sessionId: 'abc' }), { type: 'killSession', sessionId: 'abc' });
    assert.deepEqual(parseFromDashboard({ type: 'ready', extra: 1 }), { type: 'ready' });
    for (const junk of [null, 'ready', { type: 'killSession' }, { type: 'killSession', sessionId: 7 }, { type: 'rm -rf' }]) {
      assert.equal(parseFromDashboard(junk), undefined);
    }
  });
});
