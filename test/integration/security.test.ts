import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { adminAuth, fixtureUpstream, startTestHub, tempDir, testAdminToken, testToken, type TestHub } from '../support/hubHarness';
import { initializeBody, rawRequest, type RawResponse } from '../support/rawHttp';

type SocketRequest = { path: string; method?: string; token?: string; body?: string };

/**
 * Requests sent one after another on one kept-alive socket, each once the one before is
 * answered. A body goes chunked, with no Content-Length, so a body too large is found only
 * part-way through reading it.
 */
async function onOneSocket(baseUrl: string, requests: SocketRequest[]): Promise<RawResponse[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<unknown>();
  const send = ({ path, method = 'GET', token = testToken, body }: SocketRequest) =>
    new Promise<RawResponse>((resolve, reject) => {
      const headers = { authorization: `Bearer ${token}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
      const req = request(`${baseUrl}${path}`, { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('socket', (socket) => sockets.add(socket));
      req.on('error', reject);
      req.setTimeout(15_000, () => req.destroy(new Error(`no answer to ${method} ${path} on the kept-alive socket within 15 s`)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  try {
    const answers: RawResponse[] = [];
    for (const one of requests) answers.push(await send(one));
    assert.equal(sockets.size, 1, 'every request went on one socket');
    return answers;
  } finally {
    agent.destroy();
  }
}

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
      assert.match(String(response.headers['www-authenticate']), /^Bearer realm="mcp-session-hub", error="invalid_token", error_description="[^"]+"$/);
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

  it('answers the next request on a kept-alive connection after refusing a body over the limit', async function () {
    // The refused body is read off first: the next request on the socket comes after it.
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(200_000) } });
    const [refused, next] = await onOneSocket(hub.url, [
      { path: '/mcp', method: 'POST', body: big },
      { path: '/mcp', method: 'POST', body: initializeBody },
    ]);
    assert.equal(refused.status, 413);
    assert.equal(next.status, 200, next.body);
  });

  it('reads a gzip or brotli body, and refuses with 415 a charset or Content-Encoding it cannot read', async function () {
    for (const [encoding, body] of [['gzip', gzipSync(initializeBody)], ['br', brotliCompressSync(initializeBody)]] as const) {
      const response = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body, headers: { 'content-encoding': encoding } });
      assert.equal(response.status, 200, `${encoding}: ${response.body}`);
    }
    const zstd = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeBody, headers: { 'content-encoding': 'zstd' } });
    assert.equal(zstd.status, 415);
    assert.match(JSON.parse(zstd.body).error.message, /Content-Encoding 'zstd'/);
    const latin1 = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeBody, headers: { 'content-type': 'application/json; charset=latin1' } });
    assert.equal(latin1.status, 415);
    assert.match(JSON.parse(latin1.body).error.message, /charset 'latin1'; send UTF-8/);
    const notGzip = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeBody, headers: { 'content-encoding': 'gzip' } });
    assert.equal(notGzip.status, 400);
  });

  it('never lets the client token read the admin API, however the admin path is spelt', async function () {
    for (const path of ['/admin/state', '/ADMIN/state', '/admin/state/', '/%61dmin/state', '/admin/%73tate', '/Admin/State?x=1']) {
      const withClientToken = await rawRequest(`${hub.url}${path}`);
      assert.ok(withClientToken.status === 403 || withClientToken.status === 404, `${path} answered ${withClientToken.status} to the client token`);
      assert.doesNotMatch(withClientToken.body, /"sessions"/, path);
    }
    const withAdminToken = await rawRequest(`${hub.url}/%61dmin/state`, { auth: false, headers: adminAuth });
    assert.equal(withAdminToken.status, 200);
  });

  it('checks the token again whenever a kept-alive socket sends another one', async function () {
    const answers = await onOneSocket(hub.url, [
      { path: '/mcp', method: 'POST', body: initializeBody },
      { path: '/mcp', method: 'POST', body: initializeBody, token: 'not-the-token' },
      { path: '/admin/state', token: testAdminToken },
      { path: '/admin/state' },
      { path: '/mcp', method: 'POST', body: initializeBody, token: testAdminToken },
    ]);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [200, 401, 200, 403, 403],
    );
  });

  it('keeps serving after bad requests', async function () {
    const response = await rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeBody });
    assert.equal(response.status, 200);
  });

  it('answers the health check without a token and reveals nothing else there', async function () {
    const response = await rawRequest(`${hub.url}/healthz`, { auth: false });
    assert.equal(response.status, 200);
    assert.deepEqual(Object.keys(JSON.parse(response.body)).sort(), ['name', 'version']);
    const head = await rawRequest(`${hub.url}/healthz`, { auth: false, method: 'HEAD' });
    assert.deepEqual([head.status, head.body], [200, '']);
  });
});
