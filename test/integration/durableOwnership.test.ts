import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { HubState } from '../../src/client/adminClient';
import { connectClient, demoServer, firstText, tempDir, waitFor } from '../support/hubHarness';
import { freePort } from '../support/net';
import { spawnReady, type ReadyChild } from '../support/readyChild';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');
const token = 'durable-client-token-0123';
const adminToken = 'durable-admin-token-0123';

/**
 * Ownership kept on disk by the real CLI: it survives a SIGKILL of the hub, a crash in the middle
 * of its writes, and a file the hub cannot read is refused, not replaced.
 */
describe('ownership that survives the hub (the embedded ledger)', function () {
  this.timeout(180_000);
  let dir: string;
  let files: string;
  let config: string;
  let ledger: string;
  const hubs: ReadyChild[] = [];
  const clients: Client[] = [];

  beforeEach(() => {
    dir = realpathSync(tempDir('hub-durable-'));
    files = join(dir, 'files');
    mkdirSync(files);
    ledger = join(dir, 'state', 'ownership.journal');
    config = join(dir, 'hub.json');
    writeFileSync(
      config,
      JSON.stringify({
        servers: {
          filesystem: { command: process.execPath, args: [require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js'), files] },
          demo: { command: process.execPath, args: [demoServer] },
        },
        virtualServers: { fs: { upstreams: ['filesystem'], naming: 'bare' }, demo: { upstreams: ['demo'], naming: 'bare' } },
      }),
    );
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
    await Promise.all(hubs.splice(0).map((hub) => hub.stop()));
  });

  const startHub = async (port = 0) => {
    const hub = await spawnReady(cli, ['serve', '--port', String(port), '--json', '--config', config, '--token', token, '--admin-token', adminToken, '--ledger', ledger]);
    hubs.push(hub);
    return hub;
  };
  const kill = async (hub: ReadyChild) => {
    process.kill(hub.pid, 'SIGKILL');
    await waitFor(() => !alive(hub.pid), 10_000, 'the hub to die');
    hubs.splice(hubs.indexOf(hub), 1);
  };
  const connect = async (hub: ReadyChild, virtualServer: string, key?: string) => {
    const client = await connectClient(hub.url, { virtualServer, token, ...(key ? { headers: { 'x-mcp-hub-session': key } } : {}) });
    clients.push(client);
    return client;
  };
  const call = async (client: Client, name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args });
    return { ok: !result.isError, text: firstText(result), result };
  };
  const state = async (hub: ReadyChild) => (await (await fetch(`${hub.url}/admin/state`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as HubState;

  it('keeps A\'s things refused to B after a SIGKILL and restart, and A (same session key) takes them up again', async function () {
    const first = await startHub();
    const alice = await connect(first, 'fs', 'alice');
    const mine = join(files, 'alice');
    assert.ok((await call(alice, 'create_directory', { path: mine })).ok);
    assert.ok((await call(alice, 'write_file', { path: join(mine, 'notes.txt'), content: 'A' })).ok);
    await kill(first);

    const second = await startHub();
    const owned = await state(second);
    assert.equal(owned.ownership.store, ledger);
    assert.ok(owned.tombstones.some((t) => t.session === 'key:alice' && t.owned.some((o) => o.id === mine)), 'kept on disk, a tombstone until alice is back');
    const bob = await connect(second, 'fs', 'bob');
    const refused = await call(bob, 'write_file', { path: join(mine, 'notes.txt'), content: 'B' });
    assert.equal(refused.ok, false);
    assert.match(refused.text, /belongs to a session that ended at .*until a human releases it/);
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'A');

    const aliceAgain = await connect(second, 'fs', 'alice');
    assert.ok((await call(aliceAgain, 'write_file', { path: join(mine, 'notes.txt'), content: 'A again' })).ok, 'her session key finds her ledger');
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'A again');
    assert.ok((await state(second)).sessions.some((s) => s.id === 'key:alice' && s.ownedIds.some((o) => o.id === mine)));
  });

  it("keeps a client's Mcp-Session-Id, session and ownership through a SIGKILL and restart: no 404, no new initialize", async function () {
    const port = await freePort();
    const first = await startHub(port);
    // No session key: the connection is its session, so only the saved connection can bring its ownership back.
    const alice = await connect(first, 'fs');
    const mine = join(files, 'alice-restart');
    assert.ok((await call(alice, 'create_directory', { path: mine })).ok);
    const connectionId = (alice.transport as { sessionId?: string }).sessionId;
    assert.ok(connectionId);
    await kill(first);

    const second = await startHub(port);
    const written = await call(alice, 'write_file', { path: join(mine, 'after.txt'), content: 'A' });
    assert.ok(written.ok, written.text);
    assert.equal((alice.transport as { sessionId?: string }).sessionId, connectionId, 'the same Mcp-Session-Id');
    assert.equal(readFileSync(join(mine, 'after.txt'), 'utf8'), 'A');
    const after = await state(second);
    const session = after.sessions.find((s) => s.connections.some((c) => c.id === connectionId));
    assert.ok(session?.ownedIds.some((o) => o.id === mine), 'its ownership is intact');
    assert.equal(session?.connections[0]?.client?.name, 'hub-test-client', 'served with its saved initialize');
    const bob = await connect(second, 'fs');
    assert.match((await call(bob, 'write_file', { path: join(mine, 'after.txt'), content: 'B' })).text, /another session owns it/);
    // A connection that ended for its client is not served again.
    await (alice.transport as unknown as { terminateSession(): Promise<void> }).terminateSession();
    const gone = await fetch(`${second.url}/servers/fs/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': connectionId },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(gone.status, 404);
  });

  it('owns every create that returned a result, through SIGKILLs in the middle of writing', async function () {
    const returned: string[] = [];
    for (let round = 0; round < 4; round++) {
      const hub = await startHub();
      const writer = await connect(hub, 'demo', 'writer');
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          try {
            const { result } = await call(writer, 'create_item', { title: `round ${round}` });
            const id = (result.structuredContent as { id?: string } | undefined)?.id;
            if (id) returned.push(id);
          } catch {
            return; // the hub died under this call: its result never came back
          }
        }
      })();
      // Kill once this round has made some items, in the middle of whatever it is writing.
      const target = returned.length + 20;
      await waitFor(() => returned.length >= target, 30_000, 'creates to return');
      process.kill(hub.pid, 'SIGKILL');
      stop = true;
      await loop;
      await waitFor(() => !alive(hub.pid), 10_000, 'the hub to die');
      hubs.splice(hubs.indexOf(hub), 1);
      clients.splice(clients.indexOf(writer), 1);
      void writer.close().catch(() => undefined);
    }
    const last = await startHub();
    const all = await state(last);
    assert.equal(all.ownership.problem, undefined, 'the store opens after every crash');
    const owned = new Set(all.tombstones.filter((t) => t.session === 'key:writer').flatMap((t) => t.owned.map((o) => o.id)));
    const lost = returned.filter((id) => !owned.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${returned.length} returned creates are not owned`);
    const bob = await connect(last, 'demo', 'bob');
    const refused = await call(bob, 'delete_item', { id: returned[0] });
    assert.match(refused.text, /belongs to a session that ended/);
  });

  it('refuses every judged call, naming the file, when the ledger cannot be read; reads pass', async function () {
    const first = await startHub();
    const alice = await connect(first, 'fs', 'alice');
    assert.ok((await call(alice, 'create_directory', { path: join(files, 'alice') })).ok);
    await first.stop();
    const lines = readFileSync(ledger, 'utf8').split('\n');
    lines[0] = `${lines[0]?.slice(0, 20)}tampered${lines[0]?.slice(28)}`;
    writeFileSync(ledger, lines.join('\n'));

    const second = await startHub();
    const problem = (await state(second)).ownership.problem;
    assert.match(problem ?? '', new RegExp(`the ownership store ${ledger.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be read: line 1`));
    const bob = await connect(second, 'fs', 'bob');
    const refused = await call(bob, 'write_file', { path: join(files, 'new.txt'), content: 'B' });
    assert.equal(refused.ok, false);
    assert.match(refused.text, /safe mode cannot trust who owns what: the ownership store .*ownership\.journal cannot be read/);
    assert.ok((await call(bob, 'list_allowed_directories', {})).ok, 'reads are not judged');
    assert.equal(readFileSync(ledger, 'utf8'), lines.join('\n'), 'the file is left for a human, not replaced');
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
