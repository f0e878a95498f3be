import assert from 'node:assert/strict';
import { heapAfterGc } from '../../support/heap';
import { connectClient, demoUpstream, firstText, startTestHub, type TestHub } from '../../support/hubHarness';
import { answerMessages, rawInitialize, rawRequest } from '../../support/rawHttp';
import { RawSseSession } from '../../support/rawSse';

/** A tools/call whose arguments nest `depth` arrays: 2 bytes a level, just under the body limit. */
function deepCall(id: number, depth: number): string {
  return `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"deep","x":${'['.repeat(depth)}${']'.repeat(depth)}}}}`;
}

/** Break 5: arguments nested two million deep must neither pile up in the heap nor take the hub down. */
describe('attack: deeply nested arguments', function () {
  this.timeout(120_000);
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({ servers: { demo: demoUpstream() }, virtualServers: { tools: { upstreams: ['demo'], naming: 'bare', tools: ['echo'] } } });
  });
  after(async () => hub?.close());

  it('refuses 60 of them with -32602 naming the limit, and the heap stays within 10% of where it started', async function () {
    const endpoint = `${hub.url}/servers/tools/mcp`;
    const session = await rawInitialize(endpoint);
    const sse = await RawSseSession.open(hub.url, '/servers/tools/sse');
    const bystander = await connectClient(hub.url, { virtualServer: 'tools' });
    const depth = 2_000_000;
    try {
      // The body is built in here, so the test itself holds none of it when the heap is measured.
      const send = (i: number) =>
        i % 2 === 0
          ? rawRequest(endpoint, { method: 'POST', body: deepCall(i + 10, depth), headers: { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' }, timeoutMs: 30_000 })
          : sse.post(deepCall(i + 10, depth), { timeoutMs: 30_000 });
      // Warm up both paths: the last body a keep-alive socket read stays referenced until its next
      // request (about 4 MiB, once), which is no pile-up; what grows per call is.
      await send(0);
      await send(1);
      const start = heapAfterGc();
      for (let i = 0; i < 60; i++) {
        const response = await send(i);
        assert.equal(response.status, 400, `call ${i}: ${response.body.slice(0, 200)}`);
        const [answer] = answerMessages(response) as { error?: { code: number; message: string } }[];
        assert.equal(answer?.error?.code, -32602, response.body.slice(0, 200));
        assert.match(answer.error.message, /nested deeper than 64 levels \(hub\.maxJsonDepth\)/);
        const heap = heapAfterGc();
        assert.ok(heap <= start * 1.1, `after call ${i + 1} the heap is ${Math.round(heap / 2 ** 20)} MiB, started at ${Math.round(start / 2 ** 20)} MiB`);
      }
      const end = heapAfterGc();
      console.log(`      heap after 60 calls nested ${depth} deep: ${(end / 2 ** 20).toFixed(1)} MiB (started at ${(start / 2 ** 20).toFixed(1)} MiB)`);
      // The hub serves the same sessions on: nothing was lost.
      assert.equal(firstText(await bystander.callTool({ name: 'echo', arguments: { text: 'still here' } })), 'still here');
      const ok = await rawRequest(endpoint, { method: 'POST', body: deepCall(99, 10), headers: { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
      assert.equal(ok.status, 200, 'ten levels are fine');
    } finally {
      await bystander.close();
      sse.close();
    }
  });
});
