import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { readDemoLog } from '../support/demoLog';
import { adminAuth, connectClient, demoUpstream, firstText, fixturesDir, passthroughFixture, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';
import { spawnReady } from '../support/readyChild';
import { processState } from '../support/processes';
import { rawRequest } from '../support/rawHttp';

const chat = (id: string) => ({ 'vscode.conversationId': id });

/** Each agent chat its own session: the conversation id VS Code sends in `_meta` (issue 14). */
describe('chat sessions from the conversation id in _meta', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let demoLog: string;
  const clients: Client[] = [];

  async function start(hubSettings: Record<string, unknown> = {}, vsSettings: Record<string, unknown> = {}): Promise<void> {
    demoLog = join(tempDir(), 'demo.log');
    hub = await startTestHub({
      servers: {
        inst: { command: process.execPath, args: [join(fixturesDir, 'faultFixture.js')], perSession: true, warm: 0 },
        demo: demoUpstream(demoLog),
      },
      virtualServers: { work: { upstreams: ['inst', 'demo'], naming: 'bare', ...vsSettings } },
      hub: hubSettings,
    });
  }
  async function workspace(key: string): Promise<Client> {
    const client = await connectClient(hub.url, { virtualServer: 'work', headers: { 'x-mcp-hub-session': key }, name: key });
    clients.push(client);
    return client;
  }
  const call = async (client: Client, name: string, args: Record<string, unknown>, conversation?: string) => {
    const result = await client.callTool({ name, arguments: args, ...(conversation ? { _meta: chat(conversation) } : {}) });
    return { isError: result.isError === true, text: firstText(result), structured: result.structuredContent as { id?: string } | undefined };
  };
  const pidOf = (text: string) => Number(/^pid (\d+)/.exec(text)?.[1]);
  const chatSessions = () => hub.hub.state().sessions.filter((s) => s.chat);

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await hub?.close();
  });

  it('gives two chats of one connection their own instances and ledgers, inside the workspace session', async function () {
    await start();
    const ws = await workspace('vscode:ws-1');
    const c1 = pidOf((await call(ws, 'remember', { value: 'c1-secret' }, 'c1')).text);
    const c2 = pidOf((await call(ws, 'remember', { value: 'c2-secret' }, 'c2')).text);
    assert.notEqual(c1, c2, 'one instance for two chats');
    assert.match((await call(ws, 'recall', {}, 'c1')).text, /remembers c1-secret$/);
    assert.match((await call(ws, 'recall', {}, 'c2')).text, /remembers c2-secret$/);
    assert.match((await call(ws, 'recall', {})).text, /remembers nothing$/, 'a call without a chat runs in the workspace session, with its own instance');

    const made = await call(ws, 'create_item', { title: 'c1 made it' }, 'c1');
    const before = readDemoLog(demoLog).length;
    const refused = await call(ws, 'delete_item', { id: made.structured?.id }, 'c2');
    assert.equal(refused.isError, true);
    assert.match(refused.text, /Safe mode refused 'delete_item'/);
    assert.equal((await call(ws, 'delete_item', { id: made.structured?.id })).isError, true, 'the workspace session itself owns only what it created');
    assert.deepEqual(readDemoLog(demoLog).slice(before), [], 'a refused call reached the upstream');
    assert.equal((await call(ws, 'delete_item', { id: made.structured?.id }, 'c1')).isError, false);

    const sessions = chatSessions();
    assert.deepEqual(sessions.map((s) => s.chat?.conversationId).sort(), ['c1', 'c2']);
    assert.ok(sessions.every((s) => s.chat?.parent === 'key:vscode:ws-1'));
    assert.deepEqual(sessions.map((s) => s.instances.length), [1, 1]);
  });

  it('lets chats share ownership and instances in "workspace" mode', async function () {
    await start({}, { chatSessions: 'workspace' });
    const ws = await workspace('vscode:ws-1');
    assert.equal(pidOf((await call(ws, 'recall', {}, 'c1')).text), pidOf((await call(ws, 'recall', {}, 'c2')).text));
    const made = await call(ws, 'create_item', { title: 'shared' }, 'c1');
    assert.equal((await call(ws, 'delete_item', { id: made.structured?.id }, 'c2')).isError, false);
    assert.deepEqual(chatSessions(), []);
  });

  it('ends a killed chat with its instance, leaves the other, and says so when the chat comes back', async function () {
    await start();
    const notices: string[] = [];
    const ws = await connectClient(hub.url, {
      virtualServer: 'work',
      headers: { 'x-mcp-hub-session': 'vscode:ws-1' },
      beforeConnect: (c) => c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void notices.push(String(n.params.data))),
    });
    clients.push(ws);
    const c1 = pidOf((await call(ws, 'remember', { value: 'one' }, 'c1')).text);
    const c2 = pidOf((await call(ws, 'remember', { value: 'two' }, 'c2')).text);
    const c1Session = chatSessions().find((s) => s.chat?.conversationId === 'c1');
    assert.ok(c1Session);
    assert.equal((await rawRequest(`${hub.url}/admin/sessions/${encodeURIComponent(c1Session.id)}`, { method: 'DELETE', headers: adminAuth })).status, 204);
    await waitFor(() => processState(c1) !== 'alive', 10_000, "c1's instance gone");
    assert.equal(processState(c2), 'alive');
    assert.match((await call(ws, 'recall', {}, 'c2')).text, /remembers two$/);
    assert.match((await call(ws, 'recall', {}, 'c1')).text, /remembers nothing$/, 'c1 starts fresh');
    await waitFor(() => notices.some((n) => /chat session c1 ended earlier \(ended from the admin API\); this call starts it fresh/.test(n)), 5_000, 'the notice');
  });

  it("ends a chat after its own idle timeout, and keeps one workspace's c1 apart from another's", async function () {
    // Long enough that the second workspace's instance starts before the first chat goes idle on a busy machine.
    await start({ chatSessionIdleTimeout: 5 });
    const first = await workspace('vscode:ws-1');
    const second = await workspace('vscode:ws-2');
    await call(first, 'remember', { value: 'first' }, 'c1');
    assert.match((await call(second, 'recall', {}, 'c1')).text, /remembers nothing$/, "a second workspace's c1 is its own");
    assert.equal(chatSessions().length, 2);
    await waitFor(() => chatSessions().length === 0, 30_000, 'the chats to end when idle');
    assert.equal(hub.hub.state().sessions.length, 2, 'the workspace sessions stay');
  });

  it('keeps at most 100 chats per session, ending the one unused longest, and counts none of them against maxSessions', async function () {
    await start({ maxSessions: 2 });
    const ws = await workspace('vscode:ws-1');
    for (let i = 0; i < 105; i++) await call(ws, 'echo', { text: String(i) }, `chat-${i}`);
    const chats = chatSessions().map((s) => s.chat?.conversationId);
    assert.equal(chats.length, 100);
    assert.ok(!chats.includes('chat-0') && chats.includes('chat-104'), 'the oldest chats made room');
    // Two sessions of connections fit under maxSessions 2, whatever the chats.
    await workspace('vscode:ws-2');
  });

  it('runs a call with a conversation id that is not a usable string in the workspace session, and logs it once', async function () {
    await start();
    const ws = await workspace('vscode:ws-1');
    for (const bad of [42, '', 'x'.repeat(257)]) {
      const result = await ws.callTool({ name: 'recall', arguments: {}, _meta: { 'vscode.conversationId': bad } });
      assert.equal(result.isError, undefined);
    }
    assert.deepEqual(chatSessions(), []);
    assert.equal(hub.logLines.filter((line) => /is not a string of 1-256 characters/.test(line)).length, 1);
  });

  it("makes each Codex thread a chat, from _meta.threadId or _meta['x-codex-turn-metadata'].thread_id, with the default sessionKeys", async function () {
    await start();
    const ws = await workspace('codex:ws-1');
    // Codex 0.165+ sends the thread id both ways on a call; older builds and other turns may send one of them.
    const both = (thread: string) => ({ threadId: thread, 'x-codex-turn-metadata': { thread_id: thread, turn_id: `turn-of-${thread}` } });
    const recall = async (meta: Record<string, unknown>) => firstText(await ws.callTool({ name: 'recall', arguments: {}, _meta: meta }));
    await ws.callTool({ name: 'remember', arguments: { value: 't1-secret' }, _meta: both('t1') });
    await ws.callTool({ name: 'remember', arguments: { value: 't2-secret' }, _meta: { 'x-codex-turn-metadata': { thread_id: 't2' } } });
    assert.match(await recall({ threadId: 't1' }), /remembers t1-secret$/);
    assert.match(await recall({ 'x-codex-turn-metadata': { thread_id: 't1', turn_id: 'later' } }), /remembers t1-secret$/, 'the nested thread id names the same chat');
    assert.match(await recall(both('t2')), /remembers t2-secret$/);
    assert.match(await recall({}), /remembers nothing$/, 'a call outside any thread runs in the workspace session');
    assert.deepEqual(chatSessions().map((s) => s.chat?.conversationId).sort(), ['t1', 't2']);
  });

  it('ignores conversation ids with control characters or lone surrogates: the call runs in the workspace session, logged once with the id escaped', async function () {
    await start();
    const ws = await workspace('vscode:ws-1');
    const odd = ['a\u0000b', 'line\r\nInjected: yes', '\u001b[31mred', 'del\u007f', 'c1\u0085', 'high\ud800', '\udc00low', 'sep\u2028x'];
    for (const [i, id] of odd.entries()) {
      const result = await call(ws, 'remember', { value: `v${i}` }, id);
      assert.equal(result.isError, false, result.text);
    }
    assert.match((await call(ws, 'recall', {})).text, new RegExp(`remembers v${odd.length - 1}$`), 'the calls ran in the workspace session');
    assert.deepEqual(chatSessions(), []);
    const state = (await rawRequest(`${hub.url}/admin/state`, { headers: adminAuth })).body;
    assert.doesNotMatch(state, /Injected|31mred/, 'an odd id reached /admin/state');
    const warnings = hub.logLines.filter((line) => /conversation id/.test(line));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.ok(warnings[0].includes(JSON.stringify(odd[0])), `the id, escaped: ${warnings[0]}`);
    assert.ok(hub.logLines.every((line) => !/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028]/.test(line) && !/[\r\n]/.test(line)), 'a raw control character reached the log');
  });

  it("passes a client's traceparent and tracestate on to an HTTP upstream unchanged, in _meta and as headers", async function () {
    const web = await spawnReady(passthroughFixture, ['--http', '--port', '0'], { env: { FIXTURE_EVENT_LOG: join(tempDir(), 'web.log') } });
    try {
      hub = await startTestHub({ servers: { web: { type: 'http', url: web.url } }, virtualServers: { web: { upstreams: ['web'], naming: 'bare' } } });
      const client = await connectClient(hub.url, { virtualServer: 'web' });
      clients.push(client);
      const trace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=opaque' };
      const seen = JSON.parse(firstText(await client.callTool({ name: 'trace', arguments: {}, _meta: trace }))) as { meta: unknown; headers: unknown };
      assert.deepEqual(seen.meta, trace);
      assert.deepEqual(seen.headers, trace);
    } finally {
      await web.stop();
    }
  });
});
