import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { adminAuth, firstText, transports, waitFor, type TestHub, type TransportName } from '../support/hubHarness';
import { safeModeClient, startFilesAndMemoryHub } from '../support/safeModeHub';

/**
 * The attacks that talked safe mode round on the real filesystem and memory servers: B changes
 * A's things with only the client token, B's own client approving every question it gets. Each
 * is judged by what is on disk, not by what the hub says.
 */
describe('safe mode against the attacks that once got through', function () {
  this.timeout(120_000);
  let hub: TestHub;
  let root: string;
  let memoryFile: string;
  const clients: Client[] = [];

  before(async () => {
    ({ hub, root, memoryFile } = await startFilesAndMemoryHub('hub-safe-attacks-', {
      filesystem: { upstreams: ['filesystem'], naming: 'bare' },
      memory: { upstreams: ['memory'], naming: 'bare' },
    }));
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await hub?.close();
  });

  /** A client whose human approves everything it is asked (once), after `meanwhile` if set. */
  const connect = async (virtualServer: string, transport: TransportName, options: { approving?: boolean; headers?: Record<string, string>; meanwhile?: () => Promise<void> } = {}) => {
    const connected = await safeModeClient(hub.url, virtualServer, {
      transport,
      ...(options.approving ? { decision: 'once' as const } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.meanwhile ? { meanwhile: options.meanwhile } : {}),
    });
    clients.push(connected.client);
    return connected;
  };
  /** Ends the client's session: a Streamable HTTP client says so with DELETE, an SSE client by closing its stream. */
  const end = async (client: Client) => {
    const transport = client.transport as { terminateSession?: () => Promise<void> } | undefined;
    await transport?.terminateSession?.();
    await client.close();
  };
  const call = async (client: Client, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args, ...(meta ? { _meta: meta } : {}) });
    return { ok: !result.isError, text: firstText(result) };
  };

  for (const transport of transports) {
    describe(`over ${transport}`, function () {
      let mine: string;
      beforeEach(() => {
        mine = join(root, `a-${transport}-${Math.random().toString(36).slice(2, 8)}`);
      });

      it("1. judges identifiers of any length: a long path to A's file, a long entity name", async function () {
        const a = await connect('filesystem', transport);
        const b = await connect('filesystem', transport, { approving: true });
        assert.ok((await call(a.client, 'create_directory', { path: mine })).ok);
        assert.ok((await call(a.client, 'write_file', { path: join(mine, 'secret.txt'), content: 'A' })).ok);
        const theirs = `${mine}-b`;
        assert.ok((await call(b.client, 'create_directory', { path: theirs })).ok);
        const long = `${mine}/${'./'.repeat(520)}secret.txt`;
        const moved = await call(b.client, 'move_file', { source: long, destination: join(theirs, 'stolen.txt') });
        assert.equal(moved.ok, false, moved.text);
        assert.match(moved.text, /another session owns it/);
        assert.equal(readFileSync(join(mine, 'secret.txt'), 'utf8'), 'A');
        assert.equal(existsSync(join(theirs, 'stolen.txt')), false);

        const am = await connect('memory', transport);
        const bm = await connect('memory', transport, { approving: true });
        const name = `${transport}-${'n'.repeat(1100)}`;
        assert.ok((await call(am.client, 'create_entities', { entities: [{ name, entityType: 'secret', observations: ['A'] }] })).ok);
        const graph = readFileSync(memoryFile, 'utf8');
        const deleted = await call(bm.client, 'delete_entities', { entityNames: ['Bob', name] });
        assert.equal(deleted.ok, false, deleted.text);
        assert.equal(readFileSync(memoryFile, 'utf8'), graph, "A's entity unchanged on disk");
        assert.deepEqual([...b.asked, ...bm.asked], [], "B was never asked about A's things");
      });

      it("2. reads paths as the server does: relative, NFD and `\\` spellings of A's files", async function () {
        const a = await connect('filesystem', transport);
        const b = await connect('filesystem', transport, { approving: true });
        const cafe = `${mine}-café`;
        assert.ok((await call(a.client, 'create_directory', { path: mine })).ok);
        assert.ok((await call(a.client, 'create_directory', { path: cafe })).ok);
        for (const [folder, file] of [[mine, 's3.txt'], [cafe, 's4.txt'], [mine, 's5.txt']] as const) {
          assert.ok((await call(a.client, 'write_file', { path: join(folder, file), content: 'A' })).ok);
        }
        const relative = `${mine.slice(root.length + 1)}/s3.txt`;
        const nfd = `${cafe.normalize('NFD')}/s4.txt`;
        assert.notEqual(nfd, `${cafe}/s4.txt`);
        const backslash = `${mine}/\\/../s5.txt`;
        for (const path of [relative, nfd, backslash]) {
          const answer = await call(b.client, 'write_file', { path, content: 'B' });
          assert.equal(answer.ok, false, `${path}: ${answer.text}`);
          assert.match(answer.text, /another session owns it/);
        }
        assert.deepEqual(b.asked, [], "B was never asked about A's things");
        for (const [folder, file] of [[mine, 's3.txt'], [cafe, 's4.txt'], [mine, 's5.txt']] as const) assert.equal(readFileSync(join(folder, file), 'utf8'), 'A', file);
      });

      it('3. judges an approved call again as it leaves: what A made while the form was open stays A\'s', async function () {
        const a = await connect('filesystem', transport);
        const target = join(mine, 'f.txt');
        const b = await connect('filesystem', transport, {
          approving: true,
          meanwhile: async () => {
            assert.ok((await call(a.client, 'create_directory', { path: mine })).ok);
            assert.ok((await call(a.client, 'write_file', { path: target, content: 'A' })).ok);
          },
        });
        const answer = await call(b.client, 'write_file', { path: target, content: 'B' });
        assert.equal(b.asked.length, 1, 'asked while the path was nobody\'s');
        assert.equal(answer.ok, false, answer.text);
        assert.match(answer.text, /another session owns it.*changed while the call waited for its approval/);
        assert.equal(readFileSync(target, 'utf8'), 'A');
      });

      it('5. keeps what an ended session owned refused to everyone, never asked: DELETE, and a chat evicted by a flood', async function () {
        const a = await connect('filesystem', transport);
        assert.ok((await call(a.client, 'create_directory', { path: mine })).ok);
        assert.ok((await call(a.client, 'write_file', { path: join(mine, 'kept.txt'), content: 'A' })).ok);
        await end(a.client);
        await waitFor(async () => ((await (await fetch(`${hub.url}/admin/state`, { headers: adminAuth })).json()) as { tombstones: { owned: { id: string }[] }[] }).tombstones.some((t) => t.owned.some((o) => o.id === mine)), 10_000, "A's tombstone");
        const b = await connect('filesystem', transport, { approving: true });
        const answer = await call(b.client, 'write_file', { path: join(mine, 'kept.txt'), content: 'B' });
        assert.equal(answer.ok, false, answer.text);
        assert.match(answer.text, /belongs to a session that ended at .*until a human releases it/);
        assert.deepEqual(b.asked, []);
        assert.equal(readFileSync(join(mine, 'kept.txt'), 'utf8'), 'A');

        // A chat of a shared workspace session, evicted by a sibling that sends 100 fresh chat ids.
        const key = { 'x-mcp-hub-session': `workspace-${transport}` };
        const chatA = await connect('filesystem', transport, { headers: key });
        const chatB = await connect('filesystem', transport, { headers: key, approving: true });
        const chatFolder = `${mine}-chat`;
        assert.ok((await call(chatA.client, 'create_directory', { path: chatFolder }, { 'vscode.conversationId': 'chat-a' })).ok);
        writeFileSync(join(chatFolder, 'note.txt'), 'A');
        for (let i = 0; i < 100; i++) await call(chatB.client, 'list_allowed_directories', {}, { 'vscode.conversationId': `flood-${i}` });
        const evicted = await call(chatB.client, 'write_file', { path: join(chatFolder, 'note.txt'), content: 'B' }, { 'vscode.conversationId': 'chat-b' });
        assert.equal(evicted.ok, false, evicted.text);
        assert.match(evicted.text, /belongs to a session that ended/);
        assert.deepEqual(chatB.asked, []);
        assert.equal(readFileSync(join(chatFolder, 'note.txt'), 'utf8'), 'A');
        // The chat that comes back takes up what it owned.
        assert.ok((await call(chatA.client, 'write_file', { path: join(chatFolder, 'note.txt'), content: 'A2' }, { 'vscode.conversationId': 'chat-a' })).ok);
        assert.equal(readFileSync(join(chatFolder, 'note.txt'), 'utf8'), 'A2');
      });
    });
  }

  it('releases tombstones from the admin API: one session, one id, or all; only with the admin token', async function () {
    const state = async () => (await (await fetch(`${hub.url}/admin/state`, { headers: adminAuth })).json()) as { tombstones: { session: string; owned: { upstream: string; kind: string; canonical: string }[] }[] };
    const made: string[] = [];
    for (const name of ['r1', 'r2', 'r3']) {
      const a = await connect('filesystem', 'streamable-http');
      const folder = join(root, `release-${name}`);
      assert.ok((await call(a.client, 'create_directory', { path: folder })).ok);
      made.push(folder);
      await end(a.client);
    }
    await waitFor(async () => (await state()).tombstones.filter((t) => t.owned.some((o) => made.includes(o.canonical))).length === 3, 10_000, 'three tombstones');
    const release = (body: unknown, headers: Record<string, string> = adminAuth) =>
      fetch(`${hub.url}/admin/tombstones/release`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await release({ all: true }, { authorization: 'Bearer test-token-0123456789' })).status, 403, 'the client token opens no admin route');
    assert.equal((await release({ nonsense: 1 })).status, 400);
    const tombstones = (await state()).tombstones.filter((t) => t.owned.some((o) => made.includes(o.canonical)));
    const [first, second] = tombstones;
    assert.ok(first && second);
    assert.deepEqual(await (await release({ session: first.session })).json(), { released: 1 });
    const owned = second.owned[0];
    assert.ok(owned);
    assert.deepEqual(await (await release({ upstream: owned.upstream, kind: owned.kind, id: owned.canonical })).json(), { released: 1 });
    assert.ok(((await (await release({ all: true })).json()) as { released: number }).released >= 1);
    assert.deepEqual((await state()).tombstones.filter((t) => t.owned.some((o) => made.includes(o.canonical))), []);
    // Released: nobody's now, so a session is asked (and without a form, refused with how to allow it).
    const b = await connect('filesystem', 'streamable-http');
    const answer = await call(b.client, 'write_file', { path: join(made[0] ?? '', 'x.txt'), content: 'B' });
    assert.match(answer.text, /was not created by this session\. To allow it/);
  });
});
