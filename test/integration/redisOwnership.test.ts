import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { firstText, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';
import { safeModeClient } from '../support/safeModeHub';
import { hasRedisServer, startRedis, type RedisServer } from '../support/redisServer';

/**
 * Two headless hubs on one Redis (Debian's redis-server, started and stopped here) enforce one set
 * of owners: what a session made through one is refused to the other's sessions, racing creators
 * across both get exactly one owner, and while Redis is away judged calls are refused.
 */
describe('ownership shared by two hubs on one Redis', function () {
  this.timeout(180_000);
  let redis: RedisServer;
  let hubs: TestHub[] = [];
  let files: string;
  const clients: Client[] = [];

  before(async function () {
    // .ci/run installs Debian's redis-server; a machine without it cannot run these.
    assert.ok(hasRedisServer(), 'redis-server is not installed: apt-get install redis-server (as .ci/run does)');
    const dir = realpathSync(tempDir('hub-redis-'));
    files = join(dir, 'files');
    mkdirSync(files);
    mkdirSync(join(dir, 'redis'));
    redis = await startRedis(join(dir, 'redis'));
    const config = {
      servers: { filesystem: { command: process.execPath, args: [require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js'), files] } },
      virtualServers: { fs: { upstreams: ['filesystem'], naming: 'bare' } },
      ledger: { store: 'redis', url: redis.url, prefix: `test-${process.pid}:` },
    };
    hubs = [await startTestHub(config), await startTestHub(config)];
    await waitFor(() => hubs.every((hub) => hub.hub.state().ownership.problem === undefined), 15_000, 'both hubs connected to Redis');
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await Promise.all(hubs.map((hub) => hub.close()));
    await redis?.stop();
  });

  const connect = async (hub: TestHub, approving = false) => {
    const connected = await safeModeClient(hub.url, 'fs', approving ? { decision: 'once' } : {});
    clients.push(connected.client);
    return connected;
  };
  const call = async (client: Client, name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args });
    return { ok: !result.isError, text: firstText(result) };
  };

  it("refuses B on hub 2 what A made on hub 1, and never asks B about it", async function () {
    const [one, two] = hubs as [TestHub, TestHub];
    const a = await connect(one);
    const mine = join(files, 'alice');
    assert.ok((await call(a.client, 'create_directory', { path: mine })).ok);
    assert.ok((await call(a.client, 'write_file', { path: join(mine, 'notes.txt'), content: 'A' })).ok);
    const b = await connect(two, true);
    for (const [tool, args] of [
      ['write_file', { path: join(mine, 'notes.txt'), content: 'B' }],
      ['move_file', { source: join(mine, 'notes.txt'), destination: join(files, 'stolen.txt') }],
      ['create_directory', { path: join(mine, 'sub') }],
      ['write_file', { path: files, content: 'B' }],
    ] as const) {
      const answer = await call(b.client, tool, args);
      assert.equal(answer.ok, false, `${tool}: ${answer.text}`);
      assert.match(answer.text, /another session owns it/);
    }
    assert.deepEqual(b.asked, [], "B was never asked about A's things");
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'A');
    assert.equal(existsSync(join(files, 'stolen.txt')), false);
  });

  it('gives exactly one of 50 sessions racing across both hubs the thing they all create', async function () {
    const racers = await Promise.all(Array.from({ length: 50 }, (_, i) => connect(hubs[i % 2] as TestHub)));
    const target = join(files, 'contested');
    await Promise.all(racers.map(({ client }) => call(client, 'create_directory', { path: target })));
    const owners = hubs.flatMap((hub) => hub.hub.state().sessions.filter((session) => session.ownedIds.some((owned) => owned.id === target)));
    assert.equal(owners.length, 1, `owners: ${owners.map((o) => o.id).join(', ')}`);
    // Whoever won, every other racer is refused inside it.
    const winner = owners[0]?.connections[0]?.id;
    const losers = racers.filter(({ client }) => (client.transport as { sessionId?: string }).sessionId !== winner);
    assert.equal(losers.length, 49);
    const refused = await call(losers[0]!.client, 'write_file', { path: join(target, 'x.txt'), content: 'loser' });
    assert.match(refused.text, /another session owns it/);
  });

  it('refuses judged calls while Redis is away, lets reads through, and recovers by itself when it is back', async function () {
    const [one, two] = hubs as [TestHub, TestHub];
    const a = await connect(one);
    const mine = join(files, 'before-outage');
    assert.ok((await call(a.client, 'create_directory', { path: mine })).ok);
    await redis.stop();
    await waitFor(() => hubs.every((hub) => hub.hub.state().ownership.problem !== undefined), 15_000, 'both hubs to see Redis gone');
    const b = await connect(two);
    const refused = await call(b.client, 'create_directory', { path: join(files, 'during-outage') });
    assert.equal(refused.ok, false);
    assert.match(refused.text, /ownership store unavailable/);
    assert.equal(existsSync(join(files, 'during-outage')), false);
    assert.ok((await call(b.client, 'list_allowed_directories', {})).ok, 'reads are not judged');

    await redis.start();
    await waitFor(() => hubs.every((hub) => hub.hub.state().ownership.problem === undefined), 20_000, 'both hubs to reconnect');
    assert.ok((await call(b.client, 'create_directory', { path: join(files, 'after-outage') })).ok, 'judged calls pass again, no hub restart');
    const stillAs = await call(b.client, 'write_file', { path: join(mine, 'x.txt'), content: 'B' });
    assert.match(stillAs.text, /another session owns it/, "A's things survived the outage in Redis");
  });
});
