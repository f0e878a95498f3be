import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
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

  after(async function () {
    // The driver outside (test/e2e) continues in the UI and needs the hub's address and token.
    const handoff = process.env.MCP_HUB_E2E_HANDOFF;
    if (handoff && api.controller.state) writeFileSync(handoff, JSON.stringify({ url: api.controller.state.url, token: await api.controller.token() }));
  });

  it('activates, and the hub answers on 127.0.0.1', async function () {
    const state = await until(() => api.controller.state, 'the hub state');
    assert.equal(api.controller.mode, 'hosting');
    assert.match(state.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${state.url}/healthz`);
    assert.equal(health.status, 200);
  });

  it("starts a virtual server through VS Code's MCP client, discovers exactly its tools, and a call reaches the upstream", async function () {
    await vscode.commands.executeCommand('workbench.mcp.startServer', '*', { waitForLiveTools: true });
    const editorTools = await until(() => {
      const names = vscode.lm.tools.map((t) => t.name).filter((n) => n.startsWith('mcp_editor_'));
      return names.length > 0 ? names.sort() : undefined;
    }, 'the editor virtual server tools');
    // The demo's editor view: the *_item tools and list_items, nothing else (no echo, no count_slowly).
    assert.deepEqual(editorTools, ['mcp_editor_create_item', 'mcp_editor_delete_item', 'mcp_editor_get_item', 'mcp_editor_list_items', 'mcp_editor_update_item']);
    await vscode.workspace.getConfiguration('chat.tools.global').update('autoApprove', true, vscode.ConfigurationTarget.Global);
    const result = await vscode.lm.invokeTool('mcp_editor_create_item', { input: { title: 'made in VS Code' }, toolInvocationToken: undefined });
    const text = result.content.map((part) => (part instanceof vscode.LanguageModelTextPart ? part.value : '')).join('');
    const id = /[0-9a-f-]{36}/.exec(text)?.[0];
    assert.ok(id, `a created id in ${text}`);
    const client = api.controller.client;
    assert.ok(client);
    const state = await client.state();
    const session = state.sessions.find((s) => s.ownedIds.some((o) => o.id === id));
    assert.ok(session, 'the session that created it owns the id');
    assert.match(session.id, /^vscode:/, 'one logical session per workspace');

    // The workspace's own instance of the per-session upstream.
    await vscode.lm.invokeTool('mcp_browser_recall', { input: {}, toolInvocationToken: undefined });
    const instances = (await client.state()).sessions.find((s) => s.id === session.id)?.instances ?? [];
    assert.deepEqual(instances.map((i) => [i.upstream, i.state]), [['browser', 'ready']]);
  });
});
