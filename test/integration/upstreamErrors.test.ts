import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { validateConfig } from '../../src/core/config/config';
import { connectClient, demoUpstream, startTestHub, waitFor } from '../support/hubHarness';

/** Errors that say what happened: the upstream and its state, the HTTP status and the body's first line. */
describe('errors about upstreams', function () {
  this.timeout(30_000);
  let refusing: Server;
  let url: string;
  before(async () => {
    refusing = createServer((req, res) => {
      req.resume();
      res.writeHead(401, { 'content-type': 'text/plain' }).end('invalid API key for this workspace\nsee the docs');
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/mcp`;
  });
  after(() => new Promise<void>((resolve) => refusing.close(() => resolve())));

  it('keeps the status and the first line of an HTTP upstream that refuses, and names a down upstream instead of "unknown tool"', async function () {
    const hub = await startTestHub({ servers: { remote: { type: 'http', url } } }, { waitForReady: false, upstreamBackoffMs: 60_000 });
    try {
      // The hub is ready only after the upstream's first try: it has failed by now.
      const state = hub.hub.state().upstreams[0];
      assert.equal(state.state, 'failed');
      assert.match(state.lastError ?? '', /^HTTP 401: invalid API key for this workspace/);
      assert.doesNotMatch(state.lastError ?? '', /see the docs/);
      const client = await connectClient(hub.url);
      try {
        const error = await client.callTool({ name: 'remote__search', arguments: {} }).then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(error instanceof McpError, String(error));
        assert.equal(error.code, -32004);
        assert.match(error.message, /upstream 'remote' is failed \(HTTP 401: invalid API key for this workspace\)/);
        assert.doesNotMatch(error.message, /Unknown tool/);
      } finally {
        await client.close();
      }
    } finally {
      await hub.close();
    }
  });

  it('answers a list while an upstream is still starting only once it is ready', async function () {
    // The hub's own start waits for the first try; a reload's new upstream is met by waiting lists.
    const hub = await startTestHub({ servers: {} });
    try {
      const client = await connectClient(hub.url);
      try {
        const applying = hub.hub.applyConfig(validateConfig({ servers: { demo: demoUpstream() } }, 'test'), 'test');
        const tools = (await client.listTools()).tools.map((t) => t.name);
        assert.ok(tools.includes('demo__echo'), `listed while starting: ${tools.join(', ')}`);
        await applying;
        await waitFor(() => hub.hub.state().upstreams[0]?.state === 'ready', 10_000, 'ready');
      } finally {
        await client.close();
      }
    } finally {
      await hub.close();
    }
  });
});
