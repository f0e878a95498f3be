import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, fixtureUpstream, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';

function watchToolListChanges(client: Client): { count: number } {
  const seen = { count: 0 };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    seen.count++;
  });
  return seen;
}

describe('config reload without restart', function () {
  let hub: TestHub;
  let configPath: string;
  let dir: string;
  const config = (vTools: string[], extra: Record<string, unknown> = {}) => ({
    servers: { up: fixtureUpstream(join(dir, 'up.log')), ...extra },
    virtualServers: {
      stable: { upstreams: ['up'], tools: ['alpha'] },
      changing: { upstreams: ['up'], tools: vTools },
    },
  });

  before(async () => {
    dir = tempDir();
    configPath = join(dir, 'hub.json');
    writeFileSync(configPath, JSON.stringify(config(['alpha'])));
    hub = await startTestHub(undefined, { configPath });
  });
  after(async () => hub?.close());

  it('notifies only the sessions whose virtual server changed, and they see the new catalog', async function () {
    const stable = await connectClient(hub.url, { virtualServer: 'stable' });
    const changing = await connectClient(hub.url, { virtualServer: 'changing' });
    const upstreamPid = hub.hub.state().upstreams[0].pid;
    try {
      const stableSeen = watchToolListChanges(stable);
      const changingSeen = watchToolListChanges(changing);
      writeFileSync(configPath, JSON.stringify(config(['alpha', 'beta'])));
      await waitFor(() => changingSeen.count > 0, 5000, 'tools/list_changed on the changed virtual server');
      assert.deepEqual((await changing.listTools()).tools.map((t) => t.name).sort(), ['up__alpha', 'up__beta']);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(stableSeen.count, 0, 'an unchanged virtual server was notified');
      assert.equal(hub.hub.state().upstreams[0].pid, upstreamPid, 'an unchanged upstream was restarted');
      assert.deepEqual((await stable.listTools()).tools.map((t) => t.name), ['up__alpha']);
    } finally {
      await stable.close();
      await changing.close();
    }
  });

  it('keeps the last good config when the file becomes invalid, and reports why', async function () {
    const client = await connectClient(hub.url, { virtualServer: 'changing' });
    try {
      const toolsBefore = (await client.listTools()).tools.map((t) => t.name);
      writeFileSync(configPath, '{ "servers": { "up": { "type": "stdio" } }, "virtualServers": 7 }');
      await waitFor(() => hub.hub.state().hub.configError !== undefined, 5000, 'the config error to be recorded');
      const { message } = hub.hub.state().hub.configError ?? { message: '' };
      assert.match(message, /hub\.json: invalid hub config/);
      assert.match(message, /servers\.up\.command/);
      assert.match(message, /virtualServers: /);
      assert.deepEqual((await client.listTools()).tools.map((t) => t.name), toolsBefore);
      assert.equal((await client.callTool({ name: 'up__alpha', arguments: {} })).isError, undefined);
    } finally {
      await client.close();
    }
    // A good file again clears the error.
    writeFileSync(configPath, JSON.stringify(config(['alpha', 'beta'])));
    await waitFor(() => hub.hub.state().hub.configError === undefined, 5000, 'the error to clear');
  });

  it('refuses a reload whose bare names would collide, naming both sides', async function () {
    const clash = {
      servers: { up: fixtureUpstream(join(dir, 'up.log')) },
      virtualServers: {
        stable: { upstreams: ['up'], tools: ['alpha'] },
        changing: { upstreams: ['up'], tools: ['alpha', 'beta'] },
        twin: { upstreams: ['up'], tools: ['alpha'], naming: 'bare' },
      },
    };
    // Two upstreams whose `alpha` would both be exposed as `alpha`:
    const withSecond = { ...clash, servers: { ...clash.servers, up2: fixtureUpstream(join(dir, 'up2.log')) } };
    writeFileSync(configPath, JSON.stringify(withSecond));
    await waitFor(() => hub.hub.state().upstreams.some((u) => u.id === 'up2' && u.state === 'ready'), 5000, 'up2 ready');
    const collide = { ...withSecond, virtualServers: { ...withSecond.virtualServers, twin: { upstreams: ['up', 'up2'], tools: ['alpha'], naming: 'bare' } } };
    writeFileSync(configPath, JSON.stringify(collide));
    await waitFor(() => hub.hub.state().hub.configError !== undefined, 5000, 'the collision to be refused');
    assert.match(hub.hub.state().hub.configError?.message ?? '', /virtualServers\.twin: .*tool name 'alpha' is exposed by both 'up\/alpha' and 'up2\/alpha'/);
    assert.deepEqual(hub.hub.state().virtualServers.find((v) => v.id === 'twin')?.upstreams, ['up']);
  });

  it('ends the sessions of a virtual server removed from the config', async function () {
    writeFileSync(configPath, JSON.stringify(config(['alpha'])));
    await waitFor(() => hub.hub.state().virtualServers.length === 2 && hub.hub.state().hub.configError === undefined, 5000, 'reload');
    const client = await connectClient(hub.url, { virtualServer: 'changing' });
    const closed = new Promise<void>((resolve) => {
      client.onclose = () => resolve();
    });
    writeFileSync(configPath, JSON.stringify({ servers: { up: fixtureUpstream(join(dir, 'up.log')) }, virtualServers: { stable: { upstreams: ['up'], tools: ['alpha'] } } }));
    await waitFor(() => !hub.hub.state().sessions.some((s) => s.connections.some((c) => c.virtualServer === 'changing')), 5000, 'session ended');
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 500))]);
    await assert.rejects(client.listTools());
    await client.close();
  });
});
