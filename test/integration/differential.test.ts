import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectClient, fixtureUpstream, startTestHub, tempDir, type TestHub, type TransportName } from '../support/hubHarness';

/**
 * One script of requests, sent over Streamable HTTP and legacy SSE to the global endpoint and
 * to a virtual server: every answer, success or error, must be the same on both transports.
 */
type Step = { label: string; run: (client: Client) => Promise<unknown> };

function script(names: { tool: (n: string) => string; prompt: (n: string) => string }): Step[] {
  return [
    { label: 'tools/list', run: (c) => c.listTools() },
    { label: 'resources/list', run: (c) => c.listResources() },
    { label: 'resources/templates/list', run: (c) => c.listResourceTemplates() },
    { label: 'prompts/list', run: (c) => c.listPrompts() },
    ...['alpha', 'gamma', 'nope'].map((n) => ({
      label: `tools/call ${n}`,
      run: (c: Client) => c.callTool({ name: names.tool(n), arguments: { text: n } }),
    })),
    ...['alpha', 'gamma'].map((n) => ({ label: `resources/read static ${n}`, run: (c: Client) => c.readResource({ uri: `fixture://static/${n}` }) })),
    ...['beta', 'delta'].map((n) => ({ label: `resources/read template ${n}`, run: (c: Client) => c.readResource({ uri: `fixture://${n}/7` }) })),
    ...['alpha', 'gamma'].map((n) => ({
      label: `prompts/get ${n}`,
      run: (c: Client) => c.getPrompt({ name: names.prompt(`${n}-prompt`), arguments: { topic: 'z' } }),
    })),
    {
      label: 'completion/complete',
      run: (c) => c.complete({ ref: { type: 'ref/resource', uri: 'fixture://beta/{id}' }, argument: { name: 'id', value: 'o' } }),
    },
    { label: 'ping', run: (c) => c.ping() },
  ];
}

async function runScript(hub: TestHub, transport: TransportName, virtualServer: string | undefined, steps: Step[]) {
  const client = await connectClient(hub.url, { transport, virtualServer });
  try {
    const results: Record<string, unknown> = {};
    for (const step of steps) {
      try {
        results[step.label] = { ok: await step.run(client) };
      } catch (error) {
        const { code, message } = error as { code?: number; message: string };
        results[step.label] = { error: { code, message } };
      }
    }
    return results;
  } finally {
    await client.close();
  }
}

describe('transport parity (differential)', function () {
  let hub: TestHub;
  before(async () => {
    const dir = tempDir();
    hub = await startTestHub({
      servers: { up: fixtureUpstream(join(dir, 'up.log')) },
      virtualServers: {
        ab: { upstreams: ['up'], tools: ['alpha', 'beta'], resources: ['alpha', 'beta'], resourceTemplates: ['*/beta-*'], prompts: ['alpha-*'] },
      },
    });
  });
  after(async () => hub?.close());

  for (const endpoint of [undefined, 'ab']) {
    it(`answers one script identically over Streamable HTTP and SSE on ${endpoint ?? 'the global endpoint'}`, async function () {
      // Both endpoints use prefixed names, so one script fits both.
      const steps = script({ tool: (n) => `up__${n}`, prompt: (n) => `up__${n}` });
      const overHttp = await runScript(hub, 'streamable-http', endpoint, steps);
      const overSse = await runScript(hub, 'sse', endpoint, steps);
      assert.deepEqual(overSse, overHttp);
      // The script must exercise both outcomes, or equality proves little.
      const outcomes = Object.values(overHttp).map((r) => ('ok' in (r as object) ? 'ok' : 'error'));
      assert.ok(outcomes.includes('ok') && (endpoint === undefined || outcomes.includes('error')));
      if (endpoint === 'ab') {
        assert.deepEqual(Object.keys(overHttp).filter((k) => 'error' in (overHttp[k] as object)).sort(), [
          'prompts/get gamma',
          'resources/read static gamma',
          'resources/read template delta',
          'tools/call gamma',
          'tools/call nope',
        ]);
      }
    });
  }
});
