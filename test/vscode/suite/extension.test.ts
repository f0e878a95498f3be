import assert from 'node:assert/strict';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { HubExtensionApi } from '../../../src/vscode/extension';
import { until } from '../../support/timing';
import type { ChatProbeApi } from '../chatProbe/extension';

const extensionId = 'mcp-session-hub.mcp-session-hub';
const chatProbeId = 'mcp-session-hub-tests.chat-probe';

/** The extension in a real extension host, with VS Code's own MCP client (the one Copilot uses). */
describe('MCP Session Hub in VS Code', function () {
  let api: HubExtensionApi;

  before(async function () {
    const extension = vscode.extensions.getExtension<HubExtensionApi>(extensionId);
    assert.ok(extension, `${extensionId} is installed`);
    api = await extension.activate();
  });

  it('activates, and the hub answers on 127.0.0.1', async function () {
    const state = await until(() => api.controller.state, 'the hub state');
    assert.equal(api.controller.mode, 'hosting');
    assert.match(state.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${state.url}/healthz`);
    assert.equal(health.status, 200);
    // Two tokens from SecretStorage: the client token (in the MCP definitions) is refused on the admin API.
    const tokens = api.controller.tokens;
    assert.ok(tokens);
    assert.notEqual(tokens.token, tokens.adminToken);
    assert.equal((await fetch(`${state.url}/admin/state`, { headers: { authorization: `Bearer ${tokens.token}` } })).status, 403);
    assert.equal((await fetch(`${state.url}/admin/state`, { headers: { authorization: `Bearer ${tokens.adminToken}` } })).status, 200);
  });

  it("starts a virtual server through VS Code's MCP client, discovers exactly its tools, and a call reaches the upstream", async function () {
    const editorTools = await until(async () => {
      // The definitions arrive with the hub's first state; start whatever VS Code knows by then.
      await vscode.commands.executeCommand('workbench.mcp.startServer', '*', { waitForLiveTools: true });
      const names = vscode.lm.tools.map((t) => t.name).filter((n) => n.startsWith('mcp_editor_'));
      return names.length > 0 ? names.sort() : undefined;
    }, `the editor virtual server tools (VS Code has: ${vscode.lm.tools.map((t) => t.name).filter((n) => n.startsWith('mcp')).join(', ') || 'no MCP tools'})`);
    // The demo's editor view: the *_item tools and list_items, nothing else (no echo, no count_slowly).
    assert.deepEqual(editorTools, ['mcp_editor_create_item', 'mcp_editor_delete_item', 'mcp_editor_get_item', 'mcp_editor_list_items', 'mcp_editor_update_item']);
    // Tool calls outside a chat ask for confirmation; VS Code's own test switch approves them (the
    // one-time "Enable global auto approve?" dialog cannot be shown in a test run).
    await vscode.workspace.getConfiguration('chat.tools.global').update('autoApprove', true, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('setContext', 'vscode.chat.tools.global.autoApprove.testMode', true);
    const result = await vscode.lm.invokeTool('mcp_editor_create_item', { input: { title: 'made in VS Code' }, toolInvocationToken: undefined });
    const text = result.content.map((part) => (part instanceof vscode.LanguageModelTextPart ? part.value : '')).join('');
    const id = /[0-9a-f-]{36}/.exec(text)?.[0];
    assert.ok(id, `a created id in ${text}`);
    const client = api.controller.client;
    assert.ok(client);
    const state = await client.state();
    const session = state.sessions.find((s) => s.ownedIds.some((o) => o.id === id));
    assert.ok(session, 'the session that created it owns the id');
    assert.match(session.key ?? '', /^vscode:/, 'one logical session per workspace');

    // The workspace's own instance of the per-session upstream.
    await vscode.lm.invokeTool('mcp_browser_recall', { input: {}, toolInvocationToken: undefined });
    const instances = (await client.state()).sessions.find((s) => s.id === session.id)?.instances ?? [];
    assert.deepEqual(instances.map((i) => [i.upstream, i.state]), [['browser', 'ready']]);
  });

  /**
   * Two agent chats through the path Copilot's agent takes: a chat participant (the test's chat
   * probe extension) calls `lm.invokeTool` with its request's `toolInvocationToken`, so VS Code's
   * MCP client sends the chat's `vscode.conversationId`, and each chat gets a session of its own.
   */
  it('gives each agent chat its own session, with its own instance of a per-session upstream', async function () {
    const probe = vscode.extensions.getExtension<ChatProbeApi>(chatProbeId);
    if (!probe) this.skip(); // only the code-server driver installs the probe
    this.timeout(180_000);
    const calls = (await probe.activate()).calls;
    const ask = async (prompt: string) => {
      const before = calls.length;
      await vscode.commands.executeCommand('workbench.action.chat.open', {
        query: `@hubprobe ${prompt}`,
        isPartialQuery: false,
        // Without Copilot there is no default model: the chat runs on the probe's silent one.
        modelSelector: { vendor: 'hub-probe' },
      });
      const call = await until(() => calls[before], `the chat probe to answer "${prompt}"`, 60_000);
      assert.equal(call.error, undefined, `${prompt}: ${call.error}`);
      return call.text;
    };
    const client = api.controller.client;
    assert.ok(client);
    const workspace = (await client.state()).sessions.find((s) => s.key?.startsWith('vscode:') && !s.chat);
    assert.ok(workspace, 'the workspace session');
    const workspacePid = workspace.instances.find((i) => i.upstream === 'browser')?.pid;

    assert.match(await ask('mcp_browser_remember {"value":"first chat"}'), /remembered|first chat/);
    const firstChat = await ask('mcp_browser_recall {}');
    assert.match(firstChat, /remembers first chat/);
    await vscode.commands.executeCommand('workbench.action.chat.newChat');
    const secondChat = await ask('mcp_browser_recall {}');
    assert.match(secondChat, /remembers nothing/, 'a new chat never sees what another chat stored');

    const chats = (await client.state()).sessions.filter((s) => s.chat?.parent === workspace.id);
    assert.equal(chats.length, 2, `two chat sessions under ${workspace.id}: ${JSON.stringify(chats.map((c) => c.id))}`);
    const pids = chats.map((chat) => chat.instances.find((i) => i.upstream === 'browser')?.pid);
    assert.ok(pids.every((pid) => pid), 'each chat has its own browser instance');
    assert.equal(new Set([...pids, workspacePid]).size, 3, 'two chats and the workspace: three instances');
    assert.deepEqual(pids.map((pid) => `pid ${pid}`).sort(), [/pid \d+/.exec(firstChat)?.[0], /pid \d+/.exec(secondChat)?.[0]].sort());
  });

  /**
   * Under the code-server driver (test/e2e), the UI part runs while this host, and so the hub,
   * still lives: hand over the hub's address and tokens, then wait until the driver is done.
   */
  it('keeps the hub up while the driver outside works the UI', async function () {
    const handoff = process.env.MCP_HUB_E2E_HANDOFF;
    if (!handoff) this.skip();
    this.timeout(600_000);
    const state = api.controller.state;
    assert.ok(state);
    const tokens = api.controller.tokens;
    assert.ok(tokens);
    writeFileSync(handoff, JSON.stringify({ url: state.url, token: tokens.token, adminToken: tokens.adminToken }));
    // The driver may ask for a chat prompt to be sent (one whose approval it answers in the UI).
    const chatRequest = `${handoff}.chat`;
    // Or for the tools VS Code's own MCP client sees now (servers started, live tools awaited).
    const toolsRequest = `${handoff}.lmtools`;
    await until(async () => {
      if (existsSync(toolsRequest)) {
        unlinkSync(toolsRequest);
        await vscode.commands.executeCommand('workbench.mcp.startServer', '*', { waitForLiveTools: true });
        writeFileSync(`${toolsRequest}.out`, JSON.stringify(vscode.lm.tools.map((tool) => tool.name).filter((name) => name.startsWith('mcp_'))));
      }
      if (existsSync(chatRequest)) {
        const prompt = readFileSync(chatRequest, 'utf8');
        unlinkSync(chatRequest);
        void vscode.commands.executeCommand('workbench.action.chat.open', { query: `@hubprobe ${prompt}`, isPartialQuery: false, modelSelector: { vendor: 'hub-probe' } });
      }
      return existsSync(`${handoff}.done`) || undefined;
    }, 'the driver to finish', 590_000);
  });
});
