import assert from 'node:assert/strict';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, demoUpstream, startTestHub, transports, type TestHub } from '../support/hubHarness';

describe('progress and timeouts through the hub', function () {
  let hub: TestHub;
  before(async () => {
    // A 400 ms timeout: a 6 x 100 ms call only survives it because progress restarts it.
    hub = await startTestHub({ servers: { demo: demoUpstream(undefined, { timeout: 400 }) } });
  });
  after(async () => hub?.close());

  for (const transport of transports) {
    it(`puts every progress notification on the wire, in order, before the result (${transport})`, async function () {
      const client = await connectClient(hub.url, { transport });
      // Observed at the client transport: the SDK client itself drops a progress notification that
      // arrives in the same chunk as the result (it dispatches notifications a microtask late).
      const wire: string[] = [];
      const clientTransport = client.transport;
      assert.ok(clientTransport);
      const dispatch = clientTransport.onmessage;
      clientTransport.onmessage = (message, extra) => {
        if ('method' in message && message.method === 'notifications/progress') wire.push(`progress ${String(message.params?.progress)}`);
        if ('result' in message) wire.push('result');
        dispatch?.(message, extra);
      };
      try {
        const result = await client.callTool({ name: 'demo__count_slowly', arguments: { to: 6, delayMs: 100 } }, undefined, {
          onprogress: () => undefined,
          timeout: 10_000,
        });
        assert.deepEqual(result.content, [{ type: 'text', text: 'counted to 6' }]);
        assert.deepEqual(wire, ['progress 1', 'progress 2', 'progress 3', 'progress 4', 'progress 5', 'progress 6', 'result']);
      } finally {
        await client.close();
      }
    });
  }

  it('times out a call that reports no progress, with RequestTimeout naming the upstream', async function () {
    const client = await connectClient(hub.url);
    try {
      await assert.rejects(client.callTool({ name: 'demo__count_slowly', arguments: { to: 6, delayMs: 100 } }), (error: unknown) => {
        assert.ok(error instanceof McpError);
        assert.equal(error.code, -32001);
        assert.match(error.message, /upstream 'demo' did not answer within 400 ms/);
        return true;
      });
      // The upstream is still usable afterwards.
      assert.deepEqual((await client.callTool({ name: 'demo__echo', arguments: { text: 'still here' } })).content, [{ type: 'text', text: 'still here' }]);
    } finally {
      await client.close();
    }
  });
});
