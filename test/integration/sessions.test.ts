import assert from 'node:assert/strict';
import { join } from 'node:path';
import { adminAuth, connectClient, fixtureUpstream, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';
import { rawInitialize, rawRequest } from '../support/rawHttp';

const listTools = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
const protocol = { 'mcp-protocol-version': '2025-11-25' };

describe('sessions', function () {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({
      servers: { up: fixtureUpstream(join(tempDir(), 'up.log')) },
      virtualServers: { ab: { upstreams: ['up'], tools: ['alpha', 'beta'] } },
      hub: { sessionIdleTimeout: 1 },
    });
  });
  after(async () => hub?.close());

  it('ends a session on DELETE, after which its id answers 404', async function () {
    const endpoint = `${hub.url}/mcp`;
    const id = await rawInitialize(endpoint);
    const headers = { 'mcp-session-id': id, ...protocol };
    assert.equal((await rawRequest(endpoint, { method: 'POST', body: listTools, headers })).status, 200);
    assert.ok(hub.hub.state().sessions.some((s) => s.id === id));
    assert.equal((await rawRequest(endpoint, { method: 'DELETE', headers })).status, 200);
    const after = await rawRequest(endpoint, { method: 'POST', body: listTools, headers });
    assert.equal(after.status, 404);
    assert.equal(JSON.parse(after.body).error.code, -32001);
    assert.ok(!hub.hub.state().sessions.some((s) => s.id === id));
  });

  it('answers 404 for an unknown session id and 400 for a missing one', async function () {
    const endpoint = `${hub.url}/mcp`;
    const unknown = await rawRequest(endpoint, { method: 'POST', body: listTools, headers: { 'mcp-session-id': 'no-such-session', ...protocol } });
    assert.equal(unknown.status, 404);
    const missing = await rawRequest(endpoint, { method: 'POST', body: listTools });
    assert.equal(missing.status, 400);
    assert.match(JSON.parse(missing.body).error.message, /Mcp-Session-Id/);
  });

  it('does not let a session of one endpoint be used on another', async function () {
    const id = await rawInitialize(`${hub.url}/servers/ab/mcp`);
    const elsewhere = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: listTools, headers: { 'mcp-session-id': id, ...protocol } });
    assert.equal(elsewhere.status, 404);
  });

  it('answers 404 with a clear message for an unknown virtual server', async function () {
    const response = await rawRequest(`${hub.url}/servers/nope/mcp`, { method: 'POST', body: listTools });
    assert.equal(response.status, 404);
    assert.match(JSON.parse(response.body).error.message, /No virtual server 'nope' \(configured: ab\)/);
  });

  it('ends a session that stays idle past the TTL', async function () {
    const endpoint = `${hub.url}/servers/ab/mcp`;
    const id = await rawInitialize(endpoint);
    await waitFor(() => !hub.hub.state().sessions.some((s) => s.id === id), 5000, 'idle expiry');
    const after = await rawRequest(endpoint, { method: 'POST', body: listTools, headers: { 'mcp-session-id': id, ...protocol } });
    assert.equal(after.status, 404);
  });

  it('keeps a session alive past the TTL while its client keeps calling', async function () {
    // Raw requests hold no stream open, so only the calls themselves can keep it from idling out.
    const endpoint = `${hub.url}/servers/ab/mcp`;
    const id = await rawInitialize(endpoint);
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const response = await rawRequest(endpoint, { method: 'POST', body: listTools, headers: { 'mcp-session-id': id, ...protocol } });
      assert.equal(response.status, 200, `call ${i + 1}, ${(i + 1) * 300} ms after initialize (TTL 1 s)`);
    }
  });

  it('joins connections that send the same X-MCP-Hub-Session into one logical session, and keeps it across reconnects', async function () {
    const key = 'workspace-42.test';
    const first = await connectClient(hub.url, { virtualServer: 'ab', headers: { 'x-mcp-hub-session': key } });
    const second = await connectClient(hub.url, { transport: 'sse', headers: { 'x-mcp-hub-session': key } });
    const loner = await connectClient(hub.url, { virtualServer: 'ab' });
    try {
      await first.callTool({ name: 'up__alpha', arguments: {} });
      await second.callTool({ name: 'up__beta', arguments: {} });
      const joined = hub.hub.state().sessions.find((s) => s.key === key);
      assert.ok(joined, 'the joined session is listed under its key');
      assert.equal(joined.joined, true);
      assert.deepEqual(joined.connections.map((c) => c.transport).sort(), ['sse', 'streamable-http']);
      assert.equal(joined.calls, 2);
      assert.equal(hub.hub.state().sessions.filter((s) => s.connections.length === 1 && !s.joined).length >= 1, true);
      // Closing one connection leaves the logical session to the other.
      await first.close();
      await waitFor(() => hub.hub.state().sessions.find((s) => s.key === key)?.connections.length === 1, 2000, 'one connection left');
    } finally {
      await second.close();
      await loner.close();
    }
    // With no connection left, the joined session waits for the TTL, then ends.
    assert.ok(hub.hub.sessions.session(`key:${key}`), 'the joined session outlives its connections for a while');
    await waitFor(() => !hub.hub.sessions.session(`key:${key}`), 5000, 'joined session expiry');
  });

  it('refuses a malformed X-MCP-Hub-Session with 400', async function () {
    const response = await rawRequest(`${hub.url}/mcp`, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
      headers: { 'x-mcp-hub-session': 'has spaces/and slashes' },
    });
    assert.equal(response.status, 400);
    assert.match(JSON.parse(response.body).error.message, /x-mcp-hub-session/);
  });

  it('rejects an unsupported MCP-Protocol-Version with 400', async function () {
    const endpoint = `${hub.url}/mcp`;
    const id = await rawInitialize(endpoint);
    const response = await rawRequest(endpoint, { method: 'POST', body: listTools, headers: { 'mcp-session-id': id, 'mcp-protocol-version': '1999-01-01' } });
    assert.equal(response.status, 400);
    assert.match(JSON.parse(response.body).error.message, /Unsupported protocol version/);
  });

  it('ends sessions from the admin API, one or all', async function () {
    const a = await rawInitialize(`${hub.url}/mcp`);
    const b = await rawInitialize(`${hub.url}/servers/ab/mcp`);
    assert.equal((await rawRequest(`${hub.url}/admin/sessions/${a}`, { method: 'DELETE', headers: adminAuth })).status, 204);
    assert.equal((await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: listTools, headers: { 'mcp-session-id': a, ...protocol } })).status, 404);
    assert.equal((await rawRequest(`${hub.url}/admin/sessions/${a}`, { method: 'DELETE', headers: adminAuth })).status, 404);
    const all = await rawRequest(`${hub.url}/admin/sessions`, { method: 'DELETE', headers: adminAuth });
    assert.equal(all.status, 200);
    assert.ok(JSON.parse(all.body).ended >= 1);
    assert.equal((await rawRequest(`${hub.url}/servers/ab/mcp`, { method: 'POST', body: listTools, headers: { 'mcp-session-id': b, ...protocol } })).status, 404);
  });
});
