import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminAuth, demoUpstream, startTestHub, tempDir, waitFor, type TestHub } from '../../support/hubHarness';
import { answerMessages, rawInitialize, rawRequest } from '../../support/rawHttp';
import { RawSseSession } from '../../support/rawSse';

/** Break 9 (unbounded): caps on sessions and connections, and body limits that follow a reload. */
describe('attack: limits the hub holds under load', function () {
  this.timeout(60_000);

  describe('session and connection caps', function () {
    let hub: TestHub;
    before(async () => {
      hub = await startTestHub({ servers: { demo: demoUpstream() }, hub: { maxSessions: 3, maxConnections: 5 } });
    });
    after(async () => hub?.close());

    const initialize = (headers: Record<string, string> = {}) => rawRequest(`${hub.url}/mcp`, { method: 'POST', body: initializeJson, headers });

    it('answers 503 with Retry-After past maxSessions, on both transports, and has room again once one ends', async function () {
      const ids = [await rawInitialize(`${hub.url}/mcp`), await rawInitialize(`${hub.url}/mcp`), await rawInitialize(`${hub.url}/mcp`)];
      const refused = await initialize();
      assert.equal(refused.status, 503);
      assert.equal(refused.headers['retry-after'], '5');
      assert.match(String(answerMessages(refused)[0]?.error && (answerMessages(refused)[0].error as { message: string }).message), /maximum of 3 sessions \(hub\.maxSessions\)/);
      await assert.rejects(RawSseSession.open(hub.url, '/sse'), /SSE stream answered 503/);
      assert.equal((await initialize({ 'x-mcp-hub-session': 'newcomer' })).status, 503, 'a new key is a new session');
      assert.equal(hub.hub.state().sessions.length, 3);

      assert.equal((await rawRequest(`${hub.url}/admin/sessions/${ids[0]}`, { method: 'DELETE', headers: adminAuth })).status, 204);
      assert.equal((await initialize()).status, 200);
      await rawRequest(`${hub.url}/admin/sessions`, { method: 'DELETE', headers: adminAuth });
    });

    it('answers 503 past maxConnections even when the connection would join a live session', async function () {
      for (let i = 0; i < 5; i++) assert.equal((await initialize({ 'x-mcp-hub-session': 'crowd' })).status, 200);
      const refused = await initialize({ 'x-mcp-hub-session': 'crowd' });
      assert.equal(refused.status, 503);
      assert.match(refused.body, /maximum of 5 connections \(hub\.maxConnections\)/);
      assert.equal(hub.hub.state().sessions.length, 1);
      await rawRequest(`${hub.url}/admin/sessions`, { method: 'DELETE', headers: adminAuth });
    });
  });

  it('applies a new maxBodyBytes on reload', async function () {
    const dir = tempDir();
    const configPath = join(dir, 'hub.json');
    const config = (maxBodyBytes: number) => JSON.stringify({ servers: { demo: demoUpstream() }, hub: { maxBodyBytes } });
    writeFileSync(configPath, config(4 * 1024 * 1024));
    const hub = await startTestHub(undefined, { configPath });
    try {
      const id = await rawInitialize(`${hub.url}/mcp`);
      const big = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'demo__echo', arguments: { text: 'x'.repeat(100_000) } } });
      const send = () => rawRequest(`${hub.url}/mcp`, { method: 'POST', body: big, headers: { 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' } });
      assert.equal((await send()).status, 200);
      writeFileSync(configPath, config(65_536));
      await waitFor(() => hub.hub.config.settings.maxBodyBytes === 65_536, 10_000, 'the reload');
      const refused = await send();
      assert.equal(refused.status, 413);
      assert.match(refused.body, /larger than 65536 bytes \(hub\.maxBodyBytes\)/);
    } finally {
      await hub.close();
    }
  });
});

const initializeJson = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});
