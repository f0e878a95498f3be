import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { HubState } from '../../src/client/adminClient';
import { adminAuth, firstText, isAlive, startTestHub, tempDir, transports, waitFor, type TestHub, type TransportName } from '../support/hubHarness';
import { safeModeClient } from '../support/safeModeHub';

/**
 * Safe mode on `@wonderwhy-er/desktop-commander` from npm, with the profile the hub ships for it
 * (matched by its `serverInfo.name`): its `create_directory` is `mkdir -p`, and it starts
 * processes whose PIDs only its text results name.
 */
describe('safe mode on desktop-commander, with its shipped profile', function () {
  this.timeout(120_000);
  let hub: TestHub;
  let root: string;
  const clients: Client[] = [];
  const pids: number[] = [];

  before(async () => {
    const dir = realpathSync(tempDir('hub-safe-dc-'));
    root = join(dir, 'files');
    mkdirSync(root);
    mkdirSync(join(dir, 'home'));
    hub = await startTestHub({
      servers: {
        // Its own settings live in the home folder: a fresh one per run, never the user's.
        commander: { command: process.execPath, args: [require.resolve('@wonderwhy-er/desktop-commander/dist/index.js')], env: { HOME: join(dir, 'home') }, cwd: root },
      },
      virtualServers: { commander: { upstreams: ['commander'], naming: 'bare' } },
    });
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await hub?.close();
    // The hub ends the server's process family; a process the test saw must be gone with it.
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  const connect = async (transport: TransportName, approving = false) => {
    const connected = await safeModeClient(hub.url, 'commander', { transport, ...(approving ? { decision: 'once' as const } : {}) });
    clients.push(connected.client);
    return connected;
  };
  const call = async (client: Client, name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args });
    return { ok: !result.isError, text: firstText(result) };
  };
  const ownedBy = async (client: string) => {
    const state = (await (await fetch(`${hub.url}/admin/state`, { headers: adminAuth })).json()) as HubState;
    return state.sessions.find((session) => session.id === client)?.ownedIds.map((owned) => owned.id) ?? [];
  };
  const sessionIdOf = async (before: Set<string>) => {
    const state = (await (await fetch(`${hub.url}/admin/state`, { headers: adminAuth })).json()) as HubState;
    const fresh = state.sessions.filter((session) => !before.has(session.id));
    assert.equal(fresh.length, 1);
    return fresh[0]?.id ?? '';
  };
  const sessionIds = async () => new Set(((await (await fetch(`${hub.url}/admin/state`, { headers: adminAuth })).json()) as HubState).sessions.map((s) => s.id));

  for (const transport of transports) {
    it(`4. owns nothing that existed before a create_directory, nor "/" (${transport})`, async function () {
      const before = await sessionIds();
      const s = await connect(transport);
      const id = await sessionIdOf(before);
      const user = join(root, `user-${transport}`);
      mkdirSync(user);
      writeFileSync(join(user, 'user.txt'), 'the user wrote this');
      assert.ok((await call(s.client, 'create_directory', { path: user })).ok, 'mkdir -p succeeds on an existing folder');
      assert.deepEqual(await ownedBy(id), [], 'and makes it nobody\'s still');
      const overwrite = await call(s.client, 'write_file', { path: join(user, 'user.txt'), content: 'gone' });
      assert.equal(overwrite.ok, false, overwrite.text);
      assert.match(overwrite.text, /was not created by this session\. To allow it/);
      assert.equal(readFileSync(join(user, 'user.txt'), 'utf8'), 'the user wrote this');

      // Allowed while nothing inside is anyone's, refused once something is: either way never owned.
      for (const path of ['/', root]) {
        const made = await call(s.client, 'create_directory', { path });
        assert.ok(made.ok || /another session owns it/.test(made.text), made.text);
      }
      assert.deepEqual(await ownedBy(id), [], 'neither / nor the working folder');
      const other = await connect(transport);
      const fresh = join(root, `fresh-${transport}`);
      assert.ok((await call(other.client, 'create_directory', { path: fresh })).ok, 'another session may still make a new folder');
      assert.ok((await call(other.client, 'write_file', { path: join(fresh, 'mine.txt'), content: 'mine' })).ok, 'and write in it without a question');
    });

    it(`lets only the session that started a process kill it (${transport})`, async function () {
      const a = await connect(transport, true);
      const b = await connect(transport, true);
      const started = await call(a.client, 'start_process', { command: 'sleep 300', timeout_ms: 2000 });
      assert.ok(started.ok, started.text);
      assert.equal(a.asked.length, 1, 'a command is always asked');
      assert.match(a.asked[0] ?? '', /run this command\?[\s\S]*Command: sleep 300/);
      const pid = Number(/PID (\d+)/.exec(started.text)?.[1]);
      assert.ok(pid > 0 && isAlive(pid), started.text);
      pids.push(pid);
      for (const tool of ['kill_process', 'force_terminate', 'interact_with_process']) {
        const answer = await call(b.client, tool, tool === 'interact_with_process' ? { pid, input: 'exit' } : { pid });
        assert.equal(answer.ok, false, `${tool}: ${answer.text}`);
        assert.match(answer.text, /another session owns it/);
      }
      assert.deepEqual(b.asked, [], "B was never asked about A's process");
      assert.ok(isAlive(pid), "A's process survived B");
      assert.ok((await call(a.client, 'kill_process', { pid })).ok);
      await waitFor(() => !isAlive(pid), 10_000, 'the process to end');
    });
  }
});
