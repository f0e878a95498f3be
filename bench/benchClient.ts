import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { clientTransport, connectOver, type TransportName } from '../test/support/hubHarness';

/** One SDK client session on a bench endpoint (upstream, hub or peer). */
export type BenchClient = { client: Client; close(): Promise<void> };

/** Connects over `transport`, sending `headers` on every request; `close` ends the session on the server too (DELETE). */
export async function connectBenchClient(url: string, transport: TransportName, headers: Record<string, string>, name = 'hub-bench'): Promise<BenchClient> {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
  const wire = clientTransport(new URL(url), transport, headers);
  await connectOver(client, wire);
  return {
    client,
    async close() {
      if (wire instanceof StreamableHTTPClientTransport) await wire.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}
