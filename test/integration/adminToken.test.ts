import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AdminClient, AdminHttpError } from '../../src/client/adminClient';
import { validateConfig } from '../../src/core/config/config';
import { createLogger } from '../../src/core/infra/logger';
import { runHub } from '../../src/http/runHub';
import { adminAuth, connectClient, demoUpstream, startTestHub, testAdminToken, testToken, transports, type TestHub } from '../support/hubHarness';
import { initializeBody, rawRequest, type RawResponse } from '../support/rawHttp';

/**
 * Two credentials (issue #17): an agent's MCP client holds the client token; a prompt injection
 * that makes it call the admin API must not switch safe mode off, read other sessions' owned ids
 * or end sessions. The admin API takes the admin token only, and MCP endpoints refuse it.
 */
describe('the admin token and the client token', function () {
  let hub: TestHub;
  let agent: Client;
  let sessionId: string;
  let ownedId: string;
  const clientAuth = { authorization: `Bearer ${testToken}` };

  before(async () => {
    hub = await startTestHub({
      servers: { demo: demoUpstream() },
      virtualServers: { editor: { upstreams: ['demo'], tools: ['*_item', 'list_items'], naming: 'bare' } },
    });
    agent = await connectClient(hub.url, { virtualServer: 'editor', name: 'agent' });
    const created = await agent.callTool({ name: 'create_item', arguments: { title: 'mine' } });
    ownedId = (created.structuredContent as { id: string }).id;
    const session = hub.hub.state().sessions.find((s) => s.ownedIds.some((o) => o.id === ownedId));
    assert.ok(session);
    sessionId = session.id;
  });
  after(async () => {
    await agent?.close();
    await hub?.close();
  });

  const assertForbiddenForClientToken = (response: RawResponse, what: string) => {
    assert.equal(response.status, 403, `${what}: ${response.body}`);
    const body = JSON.parse(response.body) as { jsonrpc: string; id: null; error: { code: number; message: string } };
    assert.equal(body.jsonrpc, '2.0');
    assert.equal(body.id, null);
    assert.equal(body.error.code, -32000);
    assert.match(body.error.message, /admin API needs the admin token/, what);
    assert.doesNotMatch(response.body, /ownedIds|test-admin-token/, what);
  };

  const sessionAlive = () => hub.hub.state().sessions.some((s) => s.id === sessionId && s.ownedIds.some((o) => o.id === ownedId));

  it("answers the MCP client's token with 403 on GET /admin/state and /admin/events, revealing no owned id", async function () {
    for (const path of ['/admin/state', '/admin/events']) {
      assertForbiddenForClientToken(await rawRequest(`${hub.url}${path}`, { timeoutMs: 5_000 }), `GET ${path}`);
    }
  });

  it("answers the MCP client's token with 403 on POST /admin/safe-mode, and safe mode stays on", async function () {
    for (const body of ['{"enabled":false}', '{"enabled":false,"upstream":"demo"}', '{"enabled":', 'x'.repeat(100)]) {
      assertForbiddenForClientToken(await rawRequest(`${hub.url}/admin/safe-mode`, { method: 'POST', body }), `POST /admin/safe-mode ${body}`);
    }
    assert.ok(hub.hub.state().upstreams.every((u) => u.safeMode), 'safe mode was switched off with the client token');
  });

  it("answers the MCP client's token with 403 on DELETE /admin/sessions/{id}, DELETE /admin/sessions and a restart, and the session lives on", async function () {
    assertForbiddenForClientToken(await rawRequest(`${hub.url}/admin/sessions/${encodeURIComponent(sessionId)}`, { method: 'DELETE' }), 'DELETE one session');
    assertForbiddenForClientToken(await rawRequest(`${hub.url}/admin/sessions/x`, { method: 'DELETE' }), 'DELETE /admin/sessions/x');
    assertForbiddenForClientToken(await rawRequest(`${hub.url}/admin/sessions`, { method: 'DELETE' }), 'DELETE every session');
    assertForbiddenForClientToken(await rawRequest(`${hub.url}/admin/upstreams/demo/restart`, { method: 'POST' }), 'restart');
    assert.ok(sessionAlive(), 'the session or its ledger was ended with the client token');
    const listed = await agent.callTool({ name: 'list_items', arguments: {} });
    assert.notEqual(listed.isError, true);
  });

  it("answers the MCP client's token with 403 whatever the spelling of the admin path, and on unknown admin paths", async function () {
    for (const path of ['/ADMIN/state', '/Admin/State', '/admin/state/', '/admin/', '/admin', '/admin/nope']) {
      assertForbiddenForClientToken(await rawRequest(`${hub.url}${path}`, { timeoutMs: 5_000 }), `GET ${path}`);
    }
    assertForbiddenForClientToken(await rawRequest(`${hub.url}/ADMIN/safe-mode`, { method: 'POST', body: '{"enabled":false}' }), 'POST /ADMIN/safe-mode');
    assert.ok(hub.hub.state().upstreams.every((u) => u.safeMode));
  });

  it('gives the AdminClient with the client token an AdminHttpError 403', async function () {
    await assert.rejects(new AdminClient(hub.url, testToken).state(), (error: unknown) => error instanceof AdminHttpError && error.status === 403);
  });

  it('still answers 401 on the admin API without a token or with a wrong one', async function () {
    for (const headers of [{ authorization: undefined }, { authorization: 'Bearer nope' }, { authorization: `Bearer ${testAdminToken}x` }]) {
      const response = await rawRequest(`${hub.url}/admin/state`, { headers });
      assert.equal(response.status, 401);
      assert.match(String(response.headers['www-authenticate']), /^Bearer realm="mcp-session-hub", error="invalid_token", error_description="[^"]+"$/);
    }
  });

  it('takes the admin token on the admin API', async function () {
    const state = await rawRequest(`${hub.url}/admin/state`, { headers: adminAuth });
    assert.equal(state.status, 200);
    const session = (JSON.parse(state.body) as { sessions: { id: string; ownedIds: { id: string }[] }[] }).sessions.find((s) => s.id === sessionId);
    assert.deepEqual(session?.ownedIds.map((o) => o.id), [ownedId]);
    assert.equal((await new AdminClient(hub.url, testAdminToken).state()).sessions.length, 1);

    const off = await rawRequest(`${hub.url}/admin/safe-mode`, { method: 'POST', body: '{"enabled":false}', headers: adminAuth });
    assert.equal(off.status, 200);
    assert.ok(hub.hub.state().upstreams.every((u) => !u.safeMode));
    const on = await rawRequest(`${hub.url}/admin/safe-mode`, { method: 'POST', body: '{"enabled":true}', headers: adminAuth });
    assert.equal(on.status, 200);
    assert.ok(hub.hub.state().upstreams.every((u) => u.safeMode));

    assert.equal((await rawRequest(`${hub.url}/admin/sessions/x`, { method: 'DELETE', headers: adminAuth })).status, 404);
  });

  it('refuses the admin token on every MCP endpoint with 403', async function () {
    const requests: [string, string, string | undefined][] = [
      ['POST', '/mcp', initializeBody],
      ['POST', '/servers/editor/mcp', initializeBody],
      ['GET', '/sse', undefined],
      ['GET', '/servers/editor/sse', undefined],
      ['POST', '/messages?sessionId=x', '{}'],
      ['POST', '/servers/editor/messages?sessionId=x', '{}'],
      ['GET', '/no-such-path', undefined],
    ];
    for (const [method, path, body] of requests) {
      const response = await rawRequest(`${hub.url}${path}`, { method, body, headers: adminAuth, timeoutMs: 5_000 });
      assert.equal(response.status, 403, `${method} ${path}: ${response.body}`);
      const error = (JSON.parse(response.body) as { error: { code: number; message: string } }).error;
      assert.equal(error.code, -32000);
      assert.match(error.message, /MCP endpoints need the client token/);
    }
    for (const transport of transports) {
      await assert.rejects(connectClient(hub.url, { virtualServer: 'editor', transport, token: testAdminToken }), `${transport} connected with the admin token`);
    }
    assert.equal(hub.hub.state().sessions.length, 1, 'a session was opened with the admin token');
  });

  it('takes the client token on MCP endpoints, as before', async function () {
    const response = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeBody, headers: clientAuth });
    assert.equal(response.status, 200);
    await rawRequest(`${hub.url}/mcp`, { method: 'DELETE', headers: { ...clientAuth, 'mcp-session-id': String(response.headers['mcp-session-id']) } });
  });

  it('refuses to start with the same token for both', async function () {
    const logger = createLogger(() => undefined, 'error');
    await assert.rejects(
      runHub({ config: validateConfig({ servers: {} }, 'test config'), token: 'same-token', adminToken: 'same-token', logger, port: 0 }),
      /admin token must differ from the client token/,
    );
  });
});
