import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, fixtureUpstream, readRequestLog, startTestHub, tempDir, transports, type TestHub } from '../support/hubHarness';

/** The virtual server selects A and B of A, B, C, D in every category. */
const selection = {
  upstreams: ['up'],
  tools: { include: ['up/*'], exclude: ['up/gamma', 'up/delta'] },
  resources: ['up/alpha', 'up/beta'],
  resourceTemplates: ['up/alpha-template', 'up/beta-template'],
  prompts: ['up/alpha-prompt', 'up/beta-prompt'],
};

function textOf(result: { contents: ({ text: string } | { blob: string })[] }): string | undefined {
  const first = result.contents[0];
  return first && 'text' in first ? first.text : undefined;
}

async function rejection(promise: Promise<unknown>): Promise<McpError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof McpError, `expected a JSON-RPC error, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the request to be refused');
}

describe('virtual server scoping', function () {
  let hub: TestHub;
  let upLog: string;
  let otherLog: string;

  before(async function () {
    const dir = tempDir();
    upLog = join(dir, 'up.log');
    otherLog = join(dir, 'other.log');
    hub = await startTestHub({
      servers: {
        up: fixtureUpstream(upLog),
        other: fixtureUpstream(otherLog, { FIXTURE_NAME: 'other' }),
      },
      virtualServers: {
        ab: { ...selection, naming: 'bare' },
        abPrefixed: { ...selection, naming: 'prefixed' },
      },
    });
  });
  after(async () => hub?.close());

  for (const transport of transports) {
    describe(`over ${transport}`, function () {
      let client: Client;
      before(async () => {
        client = await connectClient(hub.url, { virtualServer: 'ab', transport });
      });
      after(async () => client?.close());

      it('lists exactly the selected tools, resources, templates and prompts', async function () {
        assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['alpha', 'beta']);
        assert.deepEqual((await client.listResources()).resources.map((r) => r.uri).sort(), ['fixture://static/alpha', 'fixture://static/beta']);
        assert.deepEqual(
          (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate).sort(),
          ['fixture://alpha/{id}', 'fixture://beta/{id}'],
        );
        assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name).sort(), ['alpha-prompt', 'beta-prompt']);
      });

      it('serves in-scope calls, reads, gets and completions from the upstream', async function () {
        const result = await client.callTool({ name: 'beta', arguments: { text: transport } });
        assert.deepEqual(result.content, [{ type: 'text', text: `scope-fixture/beta:${transport}` }]);
        assert.equal(textOf(await client.readResource({ uri: 'fixture://static/alpha' })), 'static alpha');
        assert.equal(textOf(await client.readResource({ uri: 'fixture://beta/42' })), 'beta 42');
        const prompt = await client.getPrompt({ name: 'alpha-prompt', arguments: { topic: 'x' } });
        assert.deepEqual(prompt.messages[0].content, { type: 'text', text: 'alpha about x' });
        const completion = await client.complete({ ref: { type: 'ref/resource', uri: 'fixture://alpha/{id}' }, argument: { name: 'id', value: 't' } });
        assert.deepEqual(completion.completion.values, ['two', 'three']);
      });

      it('refuses out-of-scope calls, reads, gets and completions before they reach the upstream', async function () {
        const before = readRequestLog(upLog).length;
        const otherBefore = readRequestLog(otherLog).length;
        const refusals = [
          await rejection(client.callTool({ name: 'gamma', arguments: {} })),
          await rejection(client.callTool({ name: 'up__delta', arguments: {} })),
          await rejection(client.readResource({ uri: 'fixture://static/gamma' })),
          await rejection(client.readResource({ uri: 'fixture://delta/1' })),
          await rejection(client.getPrompt({ name: 'gamma-prompt', arguments: { topic: 'x' } })),
          await rejection(client.complete({ ref: { type: 'ref/prompt', name: 'delta-prompt' }, argument: { name: 'topic', value: '' } })),
          await rejection(client.complete({ ref: { type: 'ref/resource', uri: 'fixture://gamma/{id}' }, argument: { name: 'id', value: '' } })),
        ];
        assert.deepEqual(refusals.map((e) => e.code), [-32602, -32602, -32002, -32002, -32602, -32602, -32602]);
        for (const error of refusals) assert.match(error.message, /not available on virtual server 'ab'/);
        assert.deepEqual(readRequestLog(upLog).slice(before), [], 'the upstream received a refused request');
        assert.deepEqual(readRequestLog(otherLog).slice(otherBefore), []);
      });
    });

    it(`prefixes names in prefixed mode and still enforces the scope (${transport})`, async function () {
      const client = await connectClient(hub.url, { virtualServer: 'abPrefixed', transport });
      try {
        assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['up__alpha', 'up__beta']);
        assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name).sort(), ['up__alpha-prompt', 'up__beta-prompt']);
        const result = await client.callTool({ name: 'up__alpha', arguments: { text: 'p' } });
        assert.deepEqual(result.content, [{ type: 'text', text: 'scope-fixture/alpha:p' }]);
        const before = readRequestLog(upLog).length;
        await rejection(client.callTool({ name: 'alpha', arguments: {} }));
        await rejection(client.callTool({ name: 'up__gamma', arguments: {} }));
        assert.equal(readRequestLog(upLog).length, before);
      } finally {
        await client.close();
      }
    });

    it(`serves everything of every upstream on the global endpoint (${transport})`, async function () {
      const client = await connectClient(hub.url, { transport });
      try {
        const tools = (await client.listTools()).tools.map((t) => t.name).sort();
        assert.deepEqual(tools, ['alpha', 'beta', 'delta', 'gamma'].flatMap((n) => [`other__${n}`, `up__${n}`]).sort());
        assert.equal((await client.listResourceTemplates()).resourceTemplates.length, 8);
        assert.equal((await client.listPrompts()).prompts.length, 8);
        // Both upstreams list the same static URIs: the hub withholds them rather than guess.
        assert.deepEqual((await client.listResources()).resources, []);
        const gamma = await client.callTool({ name: 'other__gamma', arguments: { text: 'g' } });
        assert.deepEqual(gamma.content, [{ type: 'text', text: 'other/gamma:g' }]);
        assert.ok(readRequestLog(otherLog).some((r) => r.method === 'tools/call' && r.name === 'gamma'));
      } finally {
        await client.close();
      }
    });
  }

  it('reports the resource collision on the global endpoint in the admin state', function () {
    const { global } = hub.hub.state();
    assert.ok(global.problems.some((p) => p.includes("resource 'fixture://static/alpha' is offered by both 'up' and 'other'")));
  });
});
