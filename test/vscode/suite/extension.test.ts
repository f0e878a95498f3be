import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { HubExtensionApi } from '../../../src/vscode/extension';

const extensionId = 'mcp-session-hub.mcp-session-hub';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

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
    await until(() => existsSync(`${handoff}.done`) || undefined, 'the driver to finish', 590_000);
  });
});
