import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema, type ElicitRequest } from '@modelcontextprotocol/sdk/types.js';
import type { HubState } from '../../src/client/adminClient';
import { adminAuth, connectClient, firstText, transports, type TestHub, type TransportName } from '../support/hubHarness';
import { startFilesAndMemoryHub } from '../support/safeModeHub';

/**
 * Safe mode on the real filesystem and memory servers from npm, shared by every session, with
 * no per-tool rules: what a session may touch is read from the tools' own input schemas.
 */
describe('safe mode on real servers from npm, with no rules', function () {
  this.timeout(90_000);
  let hub: TestHub;
  let files: string;
  let memoryFile: string;
  const clients: Client[] = [];

  before(async () => {
    ({ hub, root: files, memoryFile } = await startFilesAndMemoryHub('hub-safe-real-', {
      filesystem: { upstreams: ['filesystem'], naming: 'bare' },
      memory: { upstreams: ['memory'], naming: 'bare' },
    }));
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await hub?.close();
  });

  const connect = async (virtualServer: string, name: string, answers?: string[], asked?: ElicitRequest['params'][], transport: TransportName = 'streamable-http') => {
    const client = await connectClient(hub.url, {
      virtualServer,
      name,
      transport,
      ...(answers
        ? {
            capabilities: { elicitation: { form: {} } },
            beforeConnect: (c: Client) =>
              c.setRequestHandler(ElicitRequestSchema, (request) => {
                asked?.push(request.params);
                const decision = answers.shift();
                return decision === 'decline' ? { action: 'decline' } : { action: 'accept', content: { decision: decision ?? 'deny' } };
              }),
          }
        : {}),
    });
    clients.push(client);
    return client;
  };
  const call = async (client: Client, name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args });
    return { ok: !result.isError, text: firstText(result) };
  };
  const state = async (): Promise<HubState> => (await (await fetch(`${hub.url}/admin/state`, { headers: adminAuth })).json()) as HubState;
  /** The logical session of the client connected under this (unique) name. */
  const sessionOf = async (name: string) => {
    const session = (await state()).sessions.find((s) => s.connections.some((c) => c.client?.name === name));
    assert.ok(session);
    return session;
  };

  it('lets a session write inside the folder it made, and refuses another session anything there, leaving the disk as it was', async function () {
    const alice = await connect('filesystem', 'alice');
    const bob = await connect('filesystem', 'bob');
    const mine = join(files, 'alice');
    for (const [tool, args] of [
      ['create_directory', { path: mine }],
      ['write_file', { path: join(mine, 'notes.txt'), content: 'first' }],
      ['edit_file', { path: join(mine, 'notes.txt'), edits: [{ oldText: 'first', newText: 'second' }] }],
      ['move_file', { source: join(mine, 'notes.txt'), destination: join(mine, 'kept.txt') }],
      // The same file, spelled with `..` and a trailing slash on a folder: judged by the normal form.
      ['write_file', { path: `${mine}/../alice/other.txt`, content: 'other' }],
      ['create_directory', { path: `${mine}/sub/` }],
    ] as const) {
      const answer = await call(alice, tool, args);
      assert.ok(answer.ok, `alice ${tool}: ${answer.text}`);
    }
    assert.equal(readFileSync(join(mine, 'kept.txt'), 'utf8'), 'second');

    for (const [tool, args] of [
      ['write_file', { path: join(mine, 'evil.txt'), content: 'bob' }],
      ['write_file', { path: `${files}/bob/../alice/kept.txt`, content: 'bob' }],
      ['edit_file', { path: join(mine, 'kept.txt'), edits: [{ oldText: 'second', newText: 'bob' }] }],
      ['move_file', { source: join(mine, 'kept.txt'), destination: join(files, 'stolen.txt') }],
      ['create_directory', { path: join(mine, 'bob') }],
    ] as const) {
      const answer = await call(bob, tool, args);
      assert.equal(answer.ok, false, `bob ${tool} went through: ${answer.text}`);
      assert.match(answer.text, new RegExp(`^Safe mode refused '${tool}': path .* another session owns it`));
    }
    assert.equal(readFileSync(join(mine, 'kept.txt'), 'utf8'), 'second', "alice's file unchanged");
    assert.equal(existsSync(join(mine, 'evil.txt')), false);
    assert.equal(existsSync(join(files, 'stolen.txt')), false);
    assert.equal(existsSync(join(mine, 'bob')), false);

    // A file nobody here created: a client without elicitation is told how to allow it.
    writeFileSync(join(files, 'preexisting.txt'), 'before');
    const unowned = await call(bob, 'write_file', { path: join(files, 'preexisting.txt'), content: 'bob' });
    assert.equal(unowned.ok, false);
    assert.match(unowned.text, /^Safe mode refused 'write_file': path ".*preexisting\.txt" \(argument \/path\) was not created by this session\. To allow it: call from a client that answers the hub's approval request/);
    assert.equal(readFileSync(join(files, 'preexisting.txt'), 'utf8'), 'before');

    const ledger = (await sessionOf('alice')).ownedIds;
    assert.deepEqual(ledger.map((o) => [o.kind, o.id]), [['path', mine]], 'one folder owned; what is inside it is covered');
    const decisions = (await sessionOf('bob')).safeModeDecisions;
    assert.equal(decisions[0]?.outcome, 'refused');
    assert.match(decisions[0]?.identifiers[0] ?? '', /preexisting\.txt/, 'newest first');
  });

  it("keeps one session's entities, relations and observations its own, and another's attempts leave the graph unchanged", async function () {
    const alice = await connect('memory', 'alice-memory');
    const bob = await connect('memory', 'bob-memory');
    const graph = () => readFileSync(memoryFile, 'utf8');
    for (const [tool, args] of [
      ['create_entities', { entities: [{ name: 'Ada', entityType: 'person', observations: ['wrote the first program'] }, { name: 'Engine', entityType: 'machine', observations: [] }] }],
      ['create_relations', { relations: [{ from: 'Ada', to: 'Engine', relationType: 'programmed' }] }],
      ['add_observations', { observations: [{ entityName: 'Ada', contents: ['born 1815'] }] }],
    ] as const) {
      const answer = await call(alice, tool, args);
      assert.ok(answer.ok, `alice ${tool}: ${answer.text}`);
    }
    const before = graph();
    for (const [tool, args] of [
      ['create_entities', { entities: [{ name: 'Ada', entityType: 'impostor', observations: ['bob'] }] }],
      ['create_relations', { relations: [{ from: 'Ada', to: 'Engine', relationType: 'hacked' }] }],
      ['add_observations', { observations: [{ entityName: 'Ada', contents: ['bob was here'] }] }],
      ['delete_observations', { deletions: [{ entityName: 'Ada', observations: ['born 1815'] }] }],
      ['delete_relations', { relations: [{ from: 'Ada', to: 'Engine', relationType: 'programmed' }] }],
      ['delete_entities', { entityNames: ['Engine'] }],
    ] as const) {
      const answer = await call(bob, tool, args);
      assert.equal(answer.ok, false, `bob ${tool} went through: ${answer.text}`);
      assert.match(answer.text, new RegExp(`^Safe mode refused '${tool}': name .* another session owns it`));
    }
    assert.equal(graph(), before, "alice's graph unchanged on disk");

    for (const [tool, args] of [
      ['delete_observations', { deletions: [{ entityName: 'Ada', observations: ['born 1815'] }] }],
      ['delete_relations', { relations: [{ from: 'Ada', to: 'Engine', relationType: 'programmed' }] }],
      ['delete_entities', { entityNames: ['Engine', 'Ada'] }],
    ] as const) {
      const answer = await call(alice, tool, args);
      assert.ok(answer.ok, `alice ${tool}: ${answer.text}`);
    }
    assert.equal(graph().trim(), '', 'alice removed all she made');
  });

  for (const transport of transports) {
    it(`asks a client with elicitation, binding each answer to that exact call (${transport})`, async function () {
      const asked: ElicitRequest['params'][] = [];
      const answers: string[] = [];
      const carol = await connect('filesystem', `carol-${transport}`, answers, asked, transport);
      const target = join(files, `shared-${transport}.txt`);
      writeFileSync(target, 'original');

      answers.push('once');
      assert.ok((await call(carol, 'write_file', { path: target, content: 'once' })).ok);
      assert.equal(readFileSync(target, 'utf8'), 'once');
      assert.equal(asked.length, 1);
      assert.match(asked[0]?.message ?? '', /write_file[\s\S]*path .*shared-.*\.txt[\s\S]*Call digest: sha256:[0-9a-f]{16}/);
      const schema = (asked[0] as { requestedSchema?: { properties: { decision: { oneOf: { const: string; title: string }[] } } } }).requestedSchema;
      assert.deepEqual(schema?.properties.decision.oneOf.map((option) => option.title), ['Allow once', 'Allow for this session', 'Deny']);

      // The same call again asks again; one character different asks again too.
      answers.push('deny');
      const denied = await call(carol, 'write_file', { path: target, content: 'once' });
      assert.equal(denied.ok, false);
      assert.match(denied.text, /denied/);
      answers.push('decline');
      assert.equal((await call(carol, 'write_file', { path: target, content: 'oncf' })).ok, false);
      // A hostile answer, outside the form's three choices, allows nothing.
      answers.push('everything');
      const bogus = await call(carol, 'write_file', { path: target, content: 'bogus' });
      assert.equal(bogus.ok, false);
      assert.match(bogus.text, /not answered/);
      assert.equal(asked.length, 4);
      assert.equal(readFileSync(target, 'utf8'), 'once', 'denied calls never reached the server');

      // "For this session": the identifiers join the session's ledger; later calls are not asked.
      answers.push('session');
      assert.ok((await call(carol, 'write_file', { path: target, content: 'session' })).ok);
      assert.ok((await call(carol, 'edit_file', { path: target, edits: [{ oldText: 'session', newText: 'edited' }] })).ok);
      assert.equal(asked.length, 5);
      assert.equal(readFileSync(target, 'utf8'), 'edited');

      const session = await sessionOf(`carol-${transport}`);
      assert.ok(session.ownedIds.some((o) => o.kind === 'path' && o.id === target && o.tool === 'approved write_file'));
      assert.deepEqual(
        session.safeModeDecisions.map((d) => d.outcome),
        ['allowed', 'approved for the session', 'unanswered', 'denied', 'denied', 'approved once'],
      );
      // Another session is still refused on what carol was allowed.
      const dave = await connect('filesystem', `dave-${transport}`);
      const refused = await call(dave, 'write_file', { path: target, content: 'dave' });
      assert.match(refused.text, /another session owns it/);
    });
  }
});
