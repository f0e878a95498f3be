import assert from 'node:assert/strict';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema, type ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { adminAuth, connectClient, firstText, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';
import { rawRequest } from '../support/rawHttp';

/** A server from npm, a pinned dev dependency, started the way a user's config would start it. */
function npmServer(name: 'everything' | 'filesystem' | 'memory'): string {
  return require.resolve(`@modelcontextprotocol/server-${name}/dist/index.js`);
}

type Lists = { tools: unknown[]; resources: unknown[]; resourceTemplates: unknown[]; prompts: unknown[] };

async function listsOf(client: Client): Promise<Lists> {
  const caps = client.getServerCapabilities() ?? {};
  const all = async <T>(list: (cursor?: string) => Promise<{ nextCursor?: string } & Record<string, unknown>>, key: string): Promise<T[]> => {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await list(cursor);
      items.push(...(page[key] as T[]));
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  };
  return {
    tools: caps.tools ? await all((cursor) => client.listTools({ cursor }), 'tools') : [],
    resources: caps.resources ? await all((cursor) => client.listResources({ cursor }), 'resources') : [],
    resourceTemplates: caps.resources ? await all((cursor) => client.listResourceTemplates({ cursor }), 'resourceTemplates') : [],
    prompts: caps.prompts ? await all((cursor) => client.listPrompts({ cursor }), 'prompts') : [],
  };
}

/** What a direct SDK client with these capabilities sees of the server. */
async function directLists(script: string, args: string[], capabilities: ClientCapabilities, env: Record<string, string> = {}): Promise<Lists> {
  const client = new Client({ name: 'direct', version: '1.0.0' }, { capabilities });
  client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [] }));
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [script, ...args], env: { ...process.env, ...env } as Record<string, string>, stderr: 'ignore' }));
  try {
    // Servers that change their lists right after initialize (server-everything does) settle
    // first: read until two reads a second apart agree, however slow the machine is.
    let lists = await listsOf(client);
    for (let read = 0; read < 30; read++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const again = await listsOf(client);
      if (JSON.stringify(again) === JSON.stringify(lists)) return again;
      lists = again;
    }
    throw new Error(`${script} kept changing its lists for 30 s`);
  } finally {
    await client.close();
  }
}

const names = (items: unknown[]) => items.map((item) => (item as { name: string }).name).sort();

describe('real servers from npm behind the hub', function () {
  this.timeout(90_000);

  describe('as shared stdio upstreams behind bare-named virtual servers', function () {
    let hub: TestHub;
    let dir: string;
    before(async () => {
      dir = realpathSync(tempDir('hub-real-'));
      mkdirSync(join(dir, 'files'));
      hub = await startTestHub({
        servers: {
          everything: { command: process.execPath, args: [npmServer('everything'), 'stdio'] },
          filesystem: { command: process.execPath, args: [npmServer('filesystem'), join(dir, 'files')] },
          memory: { command: process.execPath, args: [npmServer('memory')], env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') } },
        },
        virtualServers: {
          everything: { upstreams: ['everything'], naming: 'bare' },
          filesystem: { upstreams: ['filesystem'], naming: 'bare' },
          memory: { upstreams: ['memory'], naming: 'bare' },
        },
      });
    });
    after(async () => hub?.close());

    for (const server of ['everything', 'filesystem', 'memory'] as const) {
      it(`shows exactly what ${server} offers a client with the hub's capabilities, every category`, async function () {
        const client = await connectClient(hub.url, { virtualServer: server });
        try {
          const through = await listsOf(client);
          const announced = hub.hub.upstreamCapabilities(server);
          const args = server === 'everything' ? ['stdio'] : server === 'filesystem' ? [join(dir, 'files')] : [];
          const direct = await directLists(npmServer(server), args, announced, server === 'memory' ? { MEMORY_FILE_PATH: join(dir, 'direct-memory.jsonl') } : {});
          for (const category of ['tools', 'resources', 'resourceTemplates', 'prompts'] as const) {
            const key = category === 'resources' ? 'uri' : category === 'resourceTemplates' ? 'uriTemplate' : 'name';
            const sorted = (items: unknown[]) => [...items].sort((a, b) => String((a as Record<string, string>)[key]).localeCompare(String((b as Record<string, string>)[key])));
            assert.deepEqual(sorted(through[category]), sorted(direct[category]), `${server} ${category}`);
          }
          if (server === 'everything') {
            assert.ok(through.prompts.length > 0 && through.resources.length > 0 && through.resourceTemplates.length > 0, 'every category is there');
          }
        } finally {
          await client.close();
        }
      });
    }

    it('serves a prompt, a resource and tool calls of server-everything', async function () {
      const client = await connectClient(hub.url, { virtualServer: 'everything' });
      try {
        const prompts = names((await client.listPrompts()).prompts);
        const simple = prompts.find((name) => name.includes('simple')) ?? prompts[0];
        const prompt = await client.getPrompt({ name: simple, arguments: {} });
        assert.ok(prompt.messages.length > 0, `prompt ${simple}`);
        const [resource] = (await client.listResources()).resources;
        const read = await client.readResource({ uri: resource.uri });
        assert.ok(read.contents.length > 0, `resource ${resource.uri}`);
        assert.equal(firstText(await client.callTool({ name: 'echo', arguments: { message: 'through the hub' } })), 'Echo: through the hub');
      } finally {
        await client.close();
      }
    });

    it('serves tool calls of server-filesystem and server-memory', async function () {
      const fs = await connectClient(hub.url, { virtualServer: 'filesystem' });
      const memory = await connectClient(hub.url, { virtualServer: 'memory' });
      try {
        assert.match(firstText(await fs.callTool({ name: 'list_allowed_directories', arguments: {} })), new RegExp(join(dir, 'files')));
        const graph = await memory.callTool({ name: 'read_graph', arguments: {} });
        assert.equal(graph.isError, undefined, firstText(graph));
      } finally {
        await fs.close();
        await memory.close();
      }
    });
  });

  it('gives each session of server-memory its own file with ${instanceDir}, removed with its instance', async function () {
    const hub = await startTestHub({
      servers: {
        memory: { command: process.execPath, args: [npmServer('memory')], env: { MEMORY_FILE_PATH: '${instanceDir}/memory.jsonl' }, perSession: true, warm: 0 },
      },
      virtualServers: { memory: { upstreams: ['memory'], naming: 'bare' } },
    });
    const alice = await connectClient(hub.url, { virtualServer: 'memory', name: 'alice' });
    const bob = await connectClient(hub.url, { virtualServer: 'memory', name: 'bob' });
    try {
      for (const [client, who] of [[alice, 'Alice'], [bob, 'Bob']] as const) {
        const made = await client.callTool({ name: 'create_entities', arguments: { entities: [{ name: `${who}Thing`, entityType: 'thing', observations: [`${who} made it`] }] } });
        assert.equal(made.isError, undefined, firstText(made));
      }
      const graphOf = async (client: Client) => JSON.stringify((await client.callTool({ name: 'read_graph', arguments: {} })).structuredContent ?? firstText(await client.callTool({ name: 'read_graph', arguments: {} })));
      assert.match(await graphOf(alice), /AliceThing/);
      assert.doesNotMatch(await graphOf(alice), /BobThing/);
      assert.match(await graphOf(bob), /BobThing/);
      assert.doesNotMatch(await graphOf(bob), /AliceThing/);
      const dirs = hub.hub.state().sessions.flatMap((s) => s.instances.map((i) => i.instanceDir as string));
      assert.equal(dirs.length, 2);
      for (const instanceDir of dirs) assert.ok(existsSync(join(instanceDir, 'memory.jsonl')), `${instanceDir} holds the session's file`);
      await (alice.transport as StreamableHTTPClientTransport).terminateSession();
      await (bob.transport as StreamableHTTPClientTransport).terminateSession();
      await waitFor(() => dirs.every((d) => !existsSync(d)), 15_000, 'both instance directories removed');
    } finally {
      await alice.close();
      await bob.close();
      await hub.close();
    }
  });

  it('answers server-filesystem started with no directory with the configured roots', async function () {
    const root = realpathSync(tempDir('hub-root-'));
    const hub = await startTestHub({
      servers: { filesystem: { command: process.execPath, args: [npmServer('filesystem')], roots: [root] } },
      virtualServers: { filesystem: { upstreams: ['filesystem'], naming: 'bare' } },
    });
    const client = await connectClient(hub.url, { virtualServer: 'filesystem' });
    try {
      await waitFor(async () => firstText(await client.callTool({ name: 'list_allowed_directories', arguments: {} })).includes(root), 15_000, 'the configured root to arrive');
    } finally {
      await client.close();
      await hub.close();
    }
  });

  it('keeps giving instances to new sessions when old ones go silent without DELETE', async function () {
    const maxInstances = 2;
    const hub = await startTestHub({
      servers: {
        memory: { command: process.execPath, args: [npmServer('memory')], env: { MEMORY_FILE_PATH: '${instanceDir}/memory.jsonl' }, perSession: true, warm: 1, maxInstances, idleTimeout: 3 },
      },
      virtualServers: { memory: { upstreams: ['memory'], naming: 'bare' } },
    });
    const silent: Client[] = [];
    try {
      for (let i = 0; i < 3 * maxInstances; i++) {
        const client = await connectClient(hub.url, { virtualServer: 'memory', name: `silent-${i}` });
        silent.push(client);
        const answer = await client.callTool({ name: 'read_graph', arguments: {} });
        assert.equal(answer.isError, undefined, `session ${i}: ${firstText(answer)}`);
        const perSession = hub.hub.state().upstreams[0].perSession;
        assert.ok(perSession && perSession.instances + perSession.spares <= maxInstances + 1, `session ${i}: ${JSON.stringify(perSession)}`);
      }
      // The sessions stay (no DELETE), their idle instances go within the idle timeout.
      await waitFor(() => hub.hub.state().upstreams[0].perSession?.instances === 0, 15_000, 'idle instances stopped');
      assert.equal(hub.hub.state().sessions.length, 3 * maxInstances, 'the sessions themselves stay');
      await rawRequest(`${hub.url}/admin/sessions`, { method: 'DELETE', headers: adminAuth });
    } finally {
      for (const client of silent) await client.close();
      await hub.close();
    }
  });
});
