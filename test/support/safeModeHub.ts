import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, startTestHub, tempDir, type TestHub, type TransportName } from './hubHarness';

/** The real filesystem and memory servers from npm, shared by every session of one hub. */
export type FilesAndMemoryHub = { hub: TestHub; root: string; memoryFile: string };

/**
 * A hub whose `filesystem` upstream serves a fresh folder (`root`, real path) and whose `memory`
 * upstream keeps its graph in `memoryFile`; `virtualServers` as the test wants them.
 */
export async function startFilesAndMemoryHub(prefix: string, virtualServers: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<FilesAndMemoryHub> {
  const dir = realpathSync(tempDir(prefix));
  const root = join(dir, 'files');
  mkdirSync(root);
  const memoryFile = join(dir, 'memory.jsonl');
  const hub = await startTestHub({
    servers: {
      filesystem: { command: process.execPath, args: [require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js'), root] },
      memory: { command: process.execPath, args: [require.resolve('@modelcontextprotocol/server-memory/dist/index.js')], env: { MEMORY_FILE_PATH: memoryFile } },
    },
    virtualServers,
    ...extra,
  });
  return { hub, root, memoryFile };
}

/**
 * A client of `virtualServer` whose human answers every safe-mode question with `decision`
 * (after `meanwhile`, when given: what happens while the form is open); `asked` keeps the
 * questions' messages. Without `decision` the client has no elicitation and cannot be asked.
 */
export async function safeModeClient(
  url: string,
  virtualServer: string,
  options: { transport?: TransportName; decision?: 'once' | 'session' | 'deny'; headers?: Record<string, string>; meanwhile?: () => Promise<void> } = {},
): Promise<{ client: Client; asked: string[] }> {
  const asked: string[] = [];
  const { decision } = options;
  const client = await connectClient(url, {
    virtualServer,
    ...(options.transport ? { transport: options.transport } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(decision
      ? {
          capabilities: { elicitation: { form: {} } },
          beforeConnect: (c: Client) =>
            c.setRequestHandler(ElicitRequestSchema, async (request) => {
              asked.push(request.params.message);
              await options.meanwhile?.();
              return decision === 'deny' ? { action: 'decline' as const } : { action: 'accept' as const, content: { decision } };
            }),
        }
      : {}),
  });
  return { client, asked };
}
