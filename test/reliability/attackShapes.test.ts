import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import fc from 'fast-check';
import { adminAuth, connectClient, demoUpstream, firstText, fixturesDir, startTestHub, tempDir, type TestHub } from '../support/hubHarness';
import { answerMessages, rawInitialize, rawRequest } from '../support/rawHttp';
import { RawSseSession } from '../support/rawSse';
import { hostileUpstream } from './attack/attackHarness';
import { assertNoProcessLeftBehind, Bystanders, checkProperty, descendantsNow, requestTimeoutMs, short } from './reliabilityHarness';

/**
 * The shapes of the attacks of issue #17, generated: nesting around and far past the depth
 * limit, upstream lines around the size limit, and session keys that collide with other
 * sessions' ids and keys. Same fixed seed as the rest of the suite.
 */
describe('reliability: generated attack shapes', function () {
  this.timeout(180_000);
  const maxJsonDepth = 64;
  const maxUpstreamMessageBytes = 64 * 1024;
  let hub: TestHub;
  let processesBefore: Set<number>;
  before(async () => {
    processesBefore = descendantsNow();
    hub = await startTestHub({
      servers: {
        demo: demoUpstream(),
        hostile: hostileUpstream(join(tempDir(), 'hostile.log')),
        inst: { command: process.execPath, args: [join(fixturesDir, 'faultFixture.js')], perSession: true, warm: 0, maxInstances: 64 },
      },
      virtualServers: {
        demo: { upstreams: ['demo'], naming: 'bare' },
        hostile: { upstreams: ['hostile'], naming: 'bare', tools: ['huge_*', 'wait'] },
        inst: { upstreams: ['inst'], naming: 'bare', tools: ['remember', 'recall'] },
      },
      hub: { maxJsonDepth, maxUpstreamMessageBytes },
    });
  });
  after(async () => {
    await hub?.close();
    await assertNoProcessLeftBehind(processesBefore, 'attack shapes');
  });

  it('answers arguments nested around and far past the limit by depth alone, on both transports', async function () {
    const bystanders = await Bystanders.open(hub.url, 'demo');
    const endpoint = `${hub.url}/servers/demo/mcp`;
    const session = await rawInitialize(endpoint);
    const sse = await RawSseSession.open(hub.url, '/servers/demo/sse');
    const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
    // The envelope nests three levels (message, params, arguments) above the generated value.
    const envelope = 3;
    const nesting = fc.record({
      depth: fc.oneof(fc.integer({ min: maxJsonDepth - envelope - 3, max: maxJsonDepth - envelope + 3 }), fc.integer({ min: 1_000, max: 300_000 })),
      opener: fc.constantFrom('[', '{"k":'),
      transport: fc.constantFrom('streamable-http', 'sse'),
    });
    try {
      await checkProperty('deep nesting', nesting, 60, async ({ depth, opener, transport }) => {
        const closer = opener === '[' ? ']' : '}';
        const body = `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"t","x":${opener.repeat(depth)}0${closer.repeat(depth)}}}}`;
        const response = transport === 'sse' ? await sse.post(body, { timeoutMs: requestTimeoutMs * 4 }) : await rawRequest(endpoint, { method: 'POST', body, headers, timeoutMs: requestTimeoutMs * 4 });
        const tooDeep = depth + envelope > maxJsonDepth;
        if (tooDeep) {
          assert.equal(response.status, 400, short(response.body));
          const [answer] = answerMessages(response) as { error?: { code: number; message: string } }[];
          assert.equal(answer?.error?.code, -32602);
          assert.match(answer.error.message, /nested deeper than 64 levels/);
        } else {
          assert.ok(response.status === 200 || response.status === 202, `depth ${depth}: ${response.status} ${short(response.body)}`);
          assert.doesNotMatch(response.body, /nested deeper/);
        }
      });
      await bystanders.assertUnaffected(hub);
    } finally {
      sse.close();
      await bystanders.close();
    }
  });

  it('takes upstream lines up to the size limit and fails only the call that goes past it', async function () {
    const bystanders = await Bystanders.open(hub.url, 'demo');
    const client = await connectClient(hub.url, { virtualServer: 'hostile' });
    const limit = maxUpstreamMessageBytes;
    // Clear of the envelope's few dozen bytes on either side of the limit.
    const sizes = fc.record({
      tool: fc.constantFrom('huge_line', 'huge_result'),
      bytes: fc.oneof(fc.integer({ min: 1, max: limit - 200 }), fc.integer({ min: limit + 1, max: limit * 8 })),
    });
    try {
      await checkProperty('huge upstream lines', sizes, 24, async ({ tool, bytes }) => {
        const outcome = await client.callTool({ name: tool, arguments: { bytes } }, undefined, { timeout: 30_000 }).then(
          (result) => ({ ok: true, text: firstText(result) }),
          (error: Error) => ({ ok: false, text: error.message }),
        );
        if (bytes < limit) {
          assert.equal(outcome.ok, true, `${tool} of ${bytes} bytes: ${short(outcome.text)}`);
          assert.equal(outcome.text.length, tool === 'huge_line' ? 'after the huge line'.length : bytes);
        } else {
          assert.equal(outcome.ok, false, `${tool} of ${bytes} bytes got through`);
          assert.match(outcome.text, /larger than 65536 bytes \(hub\.maxUpstreamMessageBytes\)/);
        }
        // A line that is not JSON is dropped however long, and the call goes on (below the limit)
        // or the upstream is restarted (past it): either way the upstream is back for the next case.
        if (!outcome.ok || (tool === 'huge_line' && bytes > limit)) {
          await rawRequest(`${hub.url}/admin/upstreams/hostile/restart`, { method: 'POST', headers: adminAuth });
        }
      });
      await bystanders.assertUnaffected(hub);
    } finally {
      await client.close();
      await bystanders.close();
    }
  });

  it('keeps every session to its own instance whatever session key a newcomer picks', async function () {
    // Victims: implicit and keyed sessions, each with a secret in its own instance.
    const victims: { client: Client; id: string; key?: string; secret: string }[] = [];
    for (const key of [undefined, 'alice', 'key:bob', undefined]) {
      const client = await connectClient(hub.url, { virtualServer: 'inst', headers: key ? { 'x-mcp-hub-session': key } : {} });
      const secret = `secret-${victims.length}`;
      await client.callTool({ name: 'remember', arguments: { value: secret } });
      victims.push({ client, id: (client.transport as StreamableHTTPClientTransport).sessionId as string, key, secret });
    }
    const keys = fc.oneof(
      fc.constantFrom(...victims.map((v) => v.id)),
      fc.constantFrom(...victims.map((v) => `key:${v.id}`)),
      fc.constantFrom(...victims.flatMap((v) => (v.key ? [`key:${v.key}`, v.key.toUpperCase(), `${v.key}.`] : []))),
      fc.stringMatching(/^[A-Za-z0-9._:@-]{1,40}$/),
    );
    try {
      await checkProperty('colliding session keys', keys, 30, async (key) => {
        const newcomer = await connectClient(hub.url, { virtualServer: 'inst', headers: { 'x-mcp-hub-session': key } });
        try {
          const recalled = firstText(await newcomer.callTool({ name: 'recall', arguments: {} }));
          const joined = victims.find((v) => v.key === key);
          for (const victim of victims) {
            if (victim === joined) continue; // the same key is the same session, by design
            assert.ok(!recalled.includes(victim.secret), `key ${short(key)} reached the instance of ${victim.key ?? victim.id}: ${recalled}`);
          }
        } finally {
          await newcomer.close();
          // Its session (and instance) goes, so cases do not pile up; a joined victim's stays.
          if (!victims.some((v) => v.key === key)) {
            await rawRequest(`${hub.url}/admin/sessions/${encodeURIComponent(`key:${key}`)}`, { method: 'DELETE', headers: adminAuth });
          }
        }
      });
      for (const victim of victims) {
        assert.match(firstText(await victim.client.callTool({ name: 'recall', arguments: {} })), new RegExp(`remembers ${victim.secret}$`), 'a victim lost its secret');
      }
    } finally {
      for (const victim of victims) await victim.client.close();
    }
  });
});
