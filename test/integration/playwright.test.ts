import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { chromiumPath, ensureChromium } from '../support/chromium';
import { connectClient, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';
import { descendantsOf, processState } from '../support/processes';

const textOf = (result: unknown): string =>
  (result as CallToolResult).content.map((block) => (block.type === 'text' ? block.text : '')).join('\n');

function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * The real @playwright/mcp behind the hub, one instance per session, driving Debian's Chromium:
 * each session's browser sees only its own page, and nothing of either is left afterwards.
 */
describe('per-session Playwright MCP with a real Chromium', function () {
  this.timeout(180_000);
  let pages: Server;
  let pagesUrl: string;
  let hub: TestHub;
  const clients: Client[] = [];

  before(async function () {
    const chromium = ensureChromium();
    if (!chromium.ok) {
      console.log(`      skipped: ${chromium.why}`);
      this.skip();
    }
    pages = createServer((req, res) => {
      const who = req.url === '/alice' ? 'Alice' : req.url === '/bob' ? 'Bob' : undefined;
      res.writeHead(who ? 200 : 404, { 'content-type': 'text/html' });
      res.end(who ? `<!doctype html><title>${who}'s page</title><h1>Welcome to ${who}'s page</h1>` : 'not found');
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pagesUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    hub = await startTestHub({
      servers: {
        playwright: {
          // Written as users write it; the hub starts the installed package with node directly.
          command: 'npx',
          // --output-dir: its console logs and page snapshots go to a temp folder, not into the repository.
          args: ['@playwright/mcp', '--browser', 'chromium', '--executable-path', chromiumPath, '--headless', '--isolated', '--output-dir', tempDir('hub-playwright-')],
          perSession: true,
          warm: 0,
          timeout: 60_000,
        },
      },
      virtualServers: { browser: { upstreams: ['playwright'], naming: 'bare' } },
    });
  });
  after(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await hub?.close();
    pages?.close();
  });

  it('gives two sessions two browsers that each see only their own page, and leaves no process behind', async function () {
    assert.ok(hub.logLines.some((line) => /starting npx @playwright\/mcp as node .*@playwright\/mcp\/cli\.js/.test(line)), 'npx resolved to node');
    const alice = await connectClient(hub.url, { virtualServer: 'browser' });
    const bob = await connectClient(hub.url, { virtualServer: 'browser' });
    clients.push(alice, bob);
    const navigated = await Promise.all([
      alice.callTool({ name: 'browser_navigate', arguments: { url: `${pagesUrl}/alice` } }),
      bob.callTool({ name: 'browser_navigate', arguments: { url: `${pagesUrl}/bob` } }),
    ]);
    for (const result of navigated) assert.notEqual((result as CallToolResult).isError, true, textOf(result));
    const aliceSees = textOf(await alice.callTool({ name: 'browser_snapshot', arguments: {} }));
    const bobSees = textOf(await bob.callTool({ name: 'browser_snapshot', arguments: {} }));
    assert.match(aliceSees, /Welcome to Alice's page/);
    assert.doesNotMatch(aliceSees, /Bob/);
    assert.match(bobSees, /Welcome to Bob's page/);
    assert.doesNotMatch(bobSees, /Alice/);

    // Every process of both instances: the MCP server and the browser it started, with its helpers.
    const instancePids = hub.hub.state().sessions.flatMap((s) => s.instances.map((i) => i.pid ?? 0));
    assert.equal(instancePids.length, 2);
    const trees = instancePids.map((pid) => [pid, ...descendantsOf(pid)]);
    for (const tree of trees) assert.ok(tree.some((pid) => commandName(pid).includes('chromium')), `a chromium process in ${tree.join()}`);
    const everything = trees.flat();
    console.log(`      ${everything.length} processes in the two instances' trees`);

    await (alice.transport as StreamableHTTPClientTransport).terminateSession();
    await (bob.transport as StreamableHTTPClientTransport).terminateSession();
    await waitFor(() => everything.every((pid) => processState(pid) === 'gone'), 20_000, 'every process of both instances gone');
  });
});
