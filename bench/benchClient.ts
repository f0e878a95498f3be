import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createOwnSignalFetch } from '../src/upstream/ownSignalFetch';
import { connectOver, type TransportName } from '../test/support/hubHarness';

/** One SDK client session on a bench endpoint (upstream, hub or peer). */
export type BenchClient = { client: Client; close(): Promise<void> };

/**
 * The bench's client transport. Its POSTs go through `createOwnSignalFetch`, as the hub's own
 * upstream clients do: the SDK hands every POST its transport's one AbortSignal, and each call
 * would leave an abort listener on it (a flood of MaxListenersExceededWarning, and client CPU
 * that grows through a run, which the bench would measure as the gateway's).
 */
export function benchTransport(url: URL, transport: TransportName, headers: Record<string, string>): SSEClientTransport | StreamableHTTPClientTransport {
  const requestInit = { headers };
  if (transport === 'streamable-http') return new StreamableHTTPClientTransport(url, { requestInit, fetch: createOwnSignalFetch() });
  return new SSEClientTransport(url, {
    requestInit,
    fetch: createOwnSignalFetch(),
    eventSourceInit: { fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) },
  });
}

/** Connects over `transport`, sending `headers` on every request; `close` ends the session on the server too (DELETE). */
export async function connectBenchClient(url: string, transport: TransportName, headers: Record<string, string>, name = 'hub-bench'): Promise<BenchClient> {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
  const wire = benchTransport(new URL(url), transport, headers);
  await connectOver(client, wire);
  return {
    client,
    async close() {
      if (wire instanceof StreamableHTTPClientTransport) await wire.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}
