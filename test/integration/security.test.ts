import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fixtureUpstream, startTestHub, tempDir, type TestHub } from '../support/hubHarness';
import { initializeBody, rawRequest } from '../support/rawHttp';

describe('security at the HTTP edge', function () {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({ servers: { up: fixtureUpstream(join(tempDir(), 'up.log')) }, hub: { maxBodyBytes: 4096 } });
  });
  after(async () => hub?.close());

  it('listens on 127.0.0.1 only', function () {
    assert.match(hub.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  for (const path of ['/mcp', '/sse', '/messages?sessionId=x', '/admin/state', '/admin/events']) {
    it(`answers 401 without the bearer token on ${path}`, async function () {
      const response = await rawRequest(`${hub.url}${path}`, { auth: false });
      assert.equal(response.status, 401);
      assert.equal(response.headers['www-authenticate'], 'Bearer realm="mcp-session-hub"');
      const wrong = await rawRequest(`${hub.url}${path}`, { auth: false, headers: { authorization: 'Bearer not-the-token' } });
      assert.equal(wrong.status, 401);
    });
  }

  it('answers 403 to a Host that is not loopback (DNS rebinding)', async function () {
    const response = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeBody, headers: { host: 'evil.example:80' } });
    assert.equal(response.status, 403);
    assert.match(JSON.parse(response.body).error.message, /Host 'evil.example:80' is not allowed/);
  });

  it('answers 403 to a foreign Origin and accepts a loopback one', async function () {
    const bad = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeBody, headers: { origin: 'https://evil.example' } });
    assert.equal(bad.status, 403);
    const good = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeBody, headers: { origin: 'http://localhost:3000' } });
    assert.equal(good.status, 200);
  });

  it('answers malformed JSON with 400 and a JSON-RPC parse error, without a stack trace', async function () {
    const response = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: '{"jsonrpc": "2.0", "id": 1, "method": ' });
    assert.equal(response.status, 400);
    const body = JSON.parse(response.body);
    assert.equal(body.error.code, -32700);
    assert.doesNotMatch(response.body, /at .*\.js:\d+/);
  });

  it('answers a body over the limit with 413', async function () {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(10_000) } });
    const response = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: big });
    assert.equal(response.status, 413);
    assert.equal(JSON.parse(response.body).error.code, -32600);
  });

  it('keeps serving after bad requests', async function () {
    const response = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeBody });
    assert.equal(response.status, 200);
  });

  it('answers the health check without a token and reveals nothing else there', async function () {
    const response = await rawRequest(`${hub.url}/healthz`, { auth: false });
    assert.equal(response.status, 200);
    assert.deepEqual(Object.keys(JSON.parse(response.body)).sort(), ['name', 'version']);
  });
});
