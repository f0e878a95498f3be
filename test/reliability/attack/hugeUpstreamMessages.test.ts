import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { cliPath } from '../../support/cli';
import { connectClient, demoUpstream, firstText, isAlive, tempDir, testAdminToken, testToken, waitFor } from '../../support/hubHarness';
import { rawRequest } from '../../support/rawHttp';
import { spawnReady, type ReadyChild } from '../../support/readyChild';
import { hostileUpstream } from './attackHarness';


/** Break 6: one huge message from an upstream must fail at most its own call, never the hub. */
describe('attack: huge messages from an upstream', function () {
  this.timeout(120_000);
  let hub: ReadyChild;
  const clients: Client[] = [];

  before(async () => {
    const dir = tempDir();
    const config = join(dir, 'hub.json');
    writeFileSync(
      config,
      JSON.stringify({
        servers: { hostile: hostileUpstream(join(dir, 'hostile.log')), demo: demoUpstream() },
        virtualServers: { hostile: { upstreams: ['hostile'], naming: 'bare' }, demo: { upstreams: ['demo'], naming: 'bare' } },
      }),
    );
    // The real CLI, so that an error nobody catches would end a real process.
    hub = await spawnReady(cliPath, ['serve', '--config', config, '--port', '0', '--json', '--token', testToken, '--admin-token', testAdminToken], {
      env: { MCP_SESSION_HUB_TOKEN: '', MCP_SESSION_HUB_ADMIN_TOKEN: '' },
    });
    await waitFor(async () => {
      const state = JSON.parse((await rawRequest(`${hub.url}/admin/state`, { headers: { authorization: `Bearer ${testAdminToken}` } })).body) as { upstreams: { state: string }[] };
      return state.upstreams.every((u) => u.state === 'ready');
    }, 20_000, 'upstreams ready');
  });
  after(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await hub?.stop();
  });

  async function client(virtualServer: string): Promise<Client> {
    const connected = await connectClient(hub.url, { virtualServer });
    clients.push(connected);
    return connected;
  }

  it('survives an 11 MiB line that is not JSON: the call goes on, other sessions too', async function () {
    const attacker = await client('hostile');
    const bystander = await client('demo');
    const answer = await attacker.callTool({ name: 'huge_line', arguments: { mb: 11 } }, undefined, { timeout: 60_000 });
    assert.equal(firstText(answer), 'after the huge line');
    assert.ok(isAlive(hub.pid), 'the hub died');
    assert.equal(firstText(await bystander.callTool({ name: 'echo', arguments: { text: 'still served' } })), 'still served');
  });

  it('fails a call whose 50 MiB result is over the limit, names the limit, and serves on', async function () {
    const attacker = await client('hostile');
    const bystander = await client('demo');
    const failed = await attacker.callTool({ name: 'huge_result', arguments: { mb: 50 } }, undefined, { timeout: 60_000 }).then(
      (result) => firstText(result),
      (error: Error) => error.message,
    );
    assert.match(failed, /larger than 33554432 bytes \(hub\.maxUpstreamMessageBytes\)/);
    assert.ok(isAlive(hub.pid), 'the hub died');
    assert.equal(firstText(await bystander.callTool({ name: 'echo', arguments: { text: 'still served' } })), 'still served');
    // The upstream is restarted, and the attacker's session can use it again.
    await waitFor(async () => {
      try {
        return firstText(await attacker.callTool({ name: 'wait', arguments: { tag: 'again', delayMs: 0 } })) === 'waited again';
      } catch {
        return false;
      }
    }, 30_000, 'the hostile upstream back');
  });
});
