import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { AdminClient } from '../../src/client/adminClient';
import { deleteVirtualServer, renameVirtualServer, setToolSelected } from '../../src/core/config/configEdits';
import { buildTree, maxToolsPerRequest } from '../../src/ui/treeModel';
import { connectClient, demoUpstream, startTestHub, tempDir, testAdminToken, waitFor, type TestHub } from '../support/hubHarness';
import { findNode } from '../support/tree';

const find = findNode;

/**
 * What the tree's checkboxes and virtual server commands do, end to end without VS Code: the
 * edit of the config file (comments kept), the hub's reload, what a connected client then sees,
 * and the tree built from the hub's next state.
 */
describe('virtual servers edited from the tree', function () {
  this.timeout(30_000);
  let dir: string;
  let configPath: string;
  let hub: TestHub;
  let admin: AdminClient;
  let client: Client;
  let listChanged = 0;

  before(async function () {
    dir = tempDir('hub-vs-edits-');
    configPath = join(dir, 'hub.jsonc');
    writeFileSync(
      configPath,
      `{
  // kept through every edit
  "servers": { "demo": ${JSON.stringify(demoUpstream())} },
  "virtualServers": {
    "work": { "upstreams": ["demo"], "naming": "bare" } // the one I use
  }
}
`,
    );
    hub = await startTestHub(undefined, { configPath });
    admin = new AdminClient(hub.url, testAdminToken);
    client = await connectClient(hub.url, { virtualServer: 'work', beforeConnect: (c) => c.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++) });
  });

  after(async function () {
    await client?.close();
    await hub?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const edit = (change: (text: string) => string) => writeFileSync(configPath, change(readFileSync(configPath, 'utf8')));

  it('shows every tool of the upstreams as a checkbox and the tool count in the label', async function () {
    const tree = buildTree(await admin.state());
    const work = find(tree, (n) => n.id === 'vs:work');
    assert.equal(work?.label, 'work (7 tools)');
    const tools = find(tree, (n) => n.id === 'vs:work/Tools');
    assert.equal(tools?.children?.length, 7);
    assert.ok(tools?.children?.every((n) => n.checked === true && n.tool?.upstream === 'demo'));
  });

  it('unchecking a tool writes an exclude; after the reload the client no longer sees it, and the tree shows it unchecked', async function () {
    edit((text) => setToolSelected(text, 'work', 'demo', 'delete_item', false));
    assert.match(readFileSync(configPath, 'utf8'), /\/\/ kept through every edit[\s\S]*\/\/ the one I use/);
    await waitFor(async () => !(await client.listTools()).tools.some((t) => t.name === 'delete_item'), 10_000, 'delete_item gone from tools/list');
    await waitFor(() => listChanged > 0, 5_000, 'tools/list_changed');
    const tree = buildTree(await admin.state());
    assert.equal(find(tree, (n) => n.id === 'vs:work/Tools/demo/delete_item')?.checked, false);
    assert.equal(find(tree, (n) => n.id === 'vs:work')?.label, 'work (6 tools)');

    edit((text) => setToolSelected(text, 'work', 'demo', 'delete_item', true));
    await waitFor(async () => (await client.listTools()).tools.some((t) => t.name === 'delete_item'), 10_000, 'delete_item back');
  });

  it('renames and deletes a virtual server through the file', async function () {
    edit((text) => renameVirtualServer(text, 'work', 'daily'));
    await waitFor(async () => (await admin.state()).virtualServers.map((vs) => vs.id).join() === 'daily', 10_000, 'the rename applied');
    assert.match(readFileSync(configPath, 'utf8'), /"daily": \{[^}]*"upstreams"[\s\S]*\} \/\/ the one I use/);
    edit((text) => deleteVirtualServer(text, 'daily'));
    await waitFor(async () => (await admin.state()).virtualServers.length === 0, 10_000, 'the delete applied');
  });

  it(`warns on a virtual server past ${maxToolsPerRequest} tools`, async function () {
    const state = await admin.state();
    const many = Array.from({ length: maxToolsPerRequest + 1 }, (_, i) => `tool_${i}`);
    const crowded = { ...state, virtualServers: [{ ...state.global, id: 'big', title: 'big', upstreams: ['demo'], naming: 'prefixed', tools: many, toolChoices: [] }] };
    const node = find(buildTree(crowded), (n) => n.id === 'vs:big');
    assert.equal(node?.icon, 'warning');
    assert.match(node?.tooltip ?? '', /129 tools: Copilot sends at most 128 per request/);
  });
});
