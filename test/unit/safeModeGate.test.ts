import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { OwnershipIndex, type OwnershipLedger } from '../../src/core/sessions/ownershipLedger';
import { SafeModeJournal, type SafeModeToolRule } from '../../src/core/sessions/safeMode';
import { admit, judge, type ApprovalAnswer, type ApprovalQuestion, type GateCall } from '../../src/core/sessions/safeModeGate';
import { safeModeProfiles } from '../../src/core/sessions/safeModeProfiles';
import type { Spelling } from '../../src/core/sessions/spelling';

const str = { type: 'string' };
const schema = (properties: Record<string, unknown>) => ({ type: 'object', properties });
const writeFile = { name: 'write_file', annotations: { readOnlyHint: false, destructiveHint: true }, inputSchema: schema({ path: str, content: str }) };
const moveFile = { name: 'move_file', annotations: { readOnlyHint: false, destructiveHint: true }, inputSchema: schema({ source: str, destination: str }) };
const createDirectory = { name: 'create_directory', annotations: { readOnlyHint: false, destructiveHint: false }, inputSchema: schema({ path: str }) };
const readFile = { name: 'read_file', annotations: { readOnlyHint: true }, inputSchema: schema({ path: str }) };
const entities = { type: 'array', items: { type: 'object', properties: { name: str, entityType: str, observations: { type: 'array', items: str } } } };
const createEntities = { name: 'create_entities', annotations: { readOnlyHint: false, destructiveHint: false }, inputSchema: schema({ entities }) };
const deleteEntities = { name: 'delete_entities', annotations: { readOnlyHint: false, destructiveHint: true }, inputSchema: schema({ entityNames: { type: 'array', items: str } }) };
const addObservations = {
  name: 'add_observations',
  annotations: { readOnlyHint: false, destructiveHint: false },
  inputSchema: schema({ observations: { type: 'array', items: { type: 'object', properties: { entityName: str, contents: { type: 'array', items: str } } } } }),
};
const startProcess = { name: 'start_process', annotations: { readOnlyHint: false, destructiveHint: true }, inputSchema: schema({ command: str, timeout_ms: { type: 'number' } }) };
const killProcess = { name: 'kill_process', annotations: { readOnlyHint: false, destructiveHint: true }, inputSchema: schema({ pid: { type: 'number' } }) };

const posix: Spelling = { platform: 'posix', caseInsensitivePaths: false, bases: ['/srv'], home: '/home/u' };

/** A client that answers each question as told, and remembers what it was asked. */
class FakeClient {
  readonly asked: ApprovalQuestion[] = [];
  /** Run while the question is open: what another session does meanwhile. */
  meanwhile?: () => void;
  constructor(private readonly answers: Array<ApprovalAnswer | undefined> = []) {}
  ask = async (question: ApprovalQuestion): Promise<ApprovalAnswer | undefined> => {
    this.asked.push(question);
    this.meanwhile?.();
    return this.answers.shift();
  };
}

/** A server's view of which paths exist, for the existence probe. */
function probeOf(existing: Set<string>) {
  return async (_tool: string, args: Record<string, unknown>): Promise<CallToolResult> =>
    existing.has(String(args.path)) ? { content: [{ type: 'text', text: 'size: 4096' }] } : { isError: true, content: [{ type: 'text', text: `Error: ENOENT: no such file or directory, stat '${String(args.path)}'` }] };
}

describe('safe mode gate', function () {
  let index: OwnershipIndex;
  let alice: OwnershipLedger;
  let bob: OwnershipLedger;
  const journal = () => new SafeModeJournal();
  const call = (tool: GateCall['tool'], args: Record<string, unknown>, extra: Partial<GateCall> = {}): GateCall => ({
    upstream: 'fs',
    tool,
    args,
    rule: undefined,
    enabled: true,
    spelling: posix,
    unownable: new Set(['/', '/srv']),
    existenceProbe: { tool: 'get_file_info', argument: 'path' },
    ...extra,
  });
  /** Runs a call through the gate and "the server": what the result reports, and what the session owns after. */
  const run = async (ledger: OwnershipLedger, gateCall: GateCall, options: { client?: FakeClient; existing?: Set<string>; result?: CallToolResult } = {}) => {
    const admission = await admit(gateCall, { ledger, journal: journal() }, { ask: (options.client ?? new FakeClient()).ask, probe: probeOf(options.existing ?? new Set()) });
    if (!admission.proceed) return { sent: false, text: (admission.result.content[0] as { text: string }).text };
    await admission.settle(options.result ?? { content: [{ type: 'text', text: 'ok' }] });
    return { sent: true, text: '' };
  };
  const owned = (ledger: OwnershipLedger) => ledger.entries.map((entry) => `${entry.kind} ${entry.canonical}`);

  beforeEach(function () {
    index = new OwnershipIndex();
    alice = index.ledgerFor('alice');
    bob = index.ledgerFor('bob');
  });

  it('proceeds with reads and additive calls, judging nothing', async function () {
    alice.record('fs', 'x', [{ value: '/srv/a', kind: 'path', canonical: '/srv/a' }]);
    assert.equal(judge(call(readFile, { path: '/srv/a/secret' }), bob).outcome, 'proceed');
    assert.deepEqual(await run(bob, call(readFile, { path: '/srv/a/secret' })), { sent: true, text: '' });
  });

  it('owns what a creating call made, and lets the owner act inside it', async function () {
    assert.ok((await run(alice, call(createDirectory, { path: '/srv/a' }))).sent);
    assert.deepEqual(owned(alice), ['path /srv/a']);
    for (const path of ['/srv/a/x.txt', '/srv/a/../a/y.txt', '/srv//a/./c/', 'a/rel.txt']) {
      assert.equal(judge(call(writeFile, { path, content: '' }), alice).outcome, 'proceed', path);
    }
  });

  it('refuses another session every spelling of what a session owns, and never asks', async function () {
    await run(alice, call(createDirectory, { path: '/srv/café' }));
    const client = new FakeClient(['once', 'once', 'once', 'once', 'once', 'once', 'once', 'once']);
    for (const path of [
      '/srv/café/s.txt',
      '/srv/cafe\u0301/s.txt', // NFD
      'café/s.txt', // relative to the server's folder
      `/srv/café/${'./'.repeat(520)}s.txt`, // past 1,024 characters
      '/srv/x/../café/s.txt',
      ' /srv/café/s.txt', // blanks some servers strip
      '"/srv/café/s.txt"', // quotes some servers strip
      '/srv', // holds it
    ]) {
      const verdict = judge(call(writeFile, { path, content: 'b' }), bob);
      assert.equal(verdict.outcome, 'refuse', path);
      assert.deepEqual(await run(bob, call(writeFile, { path, content: 'b' }), { client }), { sent: false, text: verdict.outcome === 'refuse' ? verdict.reason : '' });
    }
    assert.equal(client.asked.length, 0, 'asked about nothing of alice');
    const moved = judge(call(moveFile, { source: '/srv/café/s.txt', destination: '/srv/b/stolen.txt' }), bob);
    assert.equal(moved.outcome, 'refuse');
    assert.match(moved.outcome === 'refuse' ? moved.reason : '', /another session owns it/);
  });

  it('reads `\\` as a separator only where the server does', function () {
    alice.record('fs', 'x', [{ value: '/srv/a', kind: 'path', canonical: '/srv/a' }]);
    // POSIX: `\` is a file name character, so this is /srv/a/s5.txt, alice's.
    assert.equal(judge(call(writeFile, { path: '/srv/a/\\/../s5.txt', content: '' }), bob).outcome, 'refuse');
    const windows: Spelling = { platform: 'windows', caseInsensitivePaths: true, bases: ['C:\\srv'] };
    const ledger = index.ledgerFor('carol');
    ledger.record('fs', 'x', [{ value: 'C:\\srv\\a', kind: 'path', canonical: 'c:/srv/a' }]);
    for (const path of ['c:\\SRV\\A\\x.txt', 'C:/srv/a/x.txt', 'a\\x.txt']) assert.equal(judge(call(writeFile, { path, content: '' }, { spelling: windows }), bob).outcome, 'refuse', path);
    // A remote server's platform is unknown: both readings are judged.
    const unknown: Spelling = { platform: 'unknown', caseInsensitivePaths: false, bases: [] };
    assert.equal(judge(call(writeFile, { path: '/srv/a\\x', content: '' }, { spelling: unknown }), bob).outcome, 'refuse', 'the Windows reading is /srv/a/x');
  });

  it('refuses, with the reason, what it cannot put in one certain form', function () {
    const cases: Array<[Record<string, unknown>, RegExp, Spelling?]> = [
      [{ path: `/srv/${'x'.repeat(4100)}` }, /longer than 4096 bytes/],
      [{ path: '/srv/a\u0000b' }, /control character/],
      [{ path: '/srv/a\nb' }, /control character/],
      [{ path: '/srv/\ud800' }, /lone surrogate/],
      [{ path: 'relative.txt' }, /no folder the server resolves it against is known/, { platform: 'posix', caseInsensitivePaths: false, bases: [] }],
      [{ path: '~/x' }, /home folder is not known/, { platform: 'posix', caseInsensitivePaths: false, bases: ['/srv'] }],
    ];
    for (const [args, reason, spelling] of cases) {
      const verdict = judge(call(writeFile, { ...args, content: '' }, spelling ? { spelling } : {}), alice);
      assert.equal(verdict.outcome, 'refuse', JSON.stringify(args).slice(0, 60));
      assert.match(verdict.outcome === 'refuse' ? verdict.reason : '', reason);
    }
    const uri = { name: 'delete_resource', inputSchema: schema({ uri: str }) };
    alice.record('fs', 'x', [{ value: '/srv/a', kind: 'path', canonical: '/srv/a' }]);
    for (const value of ['file:///srv/%61/x', 'file://localhost/srv/a/x', 'FILE:///srv/a/./x']) assert.equal(judge(call(uri, { uri: value }), bob).outcome, 'refuse', value);
    const encodedSlash = judge(call(uri, { uri: 'file:///srv%2Fa/x' }), bob);
    assert.match(encodedSlash.outcome === 'refuse' ? encodedSlash.reason : '', /encoded separator/);
    assert.match((judge(call(uri, { uri: 'file://server/share/x' }), bob) as { reason: string }).reason, /names host 'server'/);
  });

  it('asks about what nobody here created, and a denial or no answer sends nothing', async function () {
    const denied = new FakeClient(['deny']);
    assert.equal((await run(bob, call(writeFile, { path: '/srv/free.txt', content: '' }), { client: denied })).sent, false);
    assert.equal(denied.asked[0]?.sessionChoice, true);
    assert.match(denied.asked[0]?.reason ?? '', /path "\/srv\/free.txt" \(argument \/path\) was not created by this session/);
    const silent = await run(bob, call(writeFile, { path: '/srv/free.txt', content: '' }), { client: new FakeClient(['unanswered']) });
    assert.match(silent.text, /not answered/);
    const cannotAsk = await run(bob, call(writeFile, { path: '/srv/free.txt', content: '' }), { client: new FakeClient([undefined]) });
    assert.match(cannotAsk.text, /cannot be asked/);
    assert.equal((await run(bob, call(writeFile, { path: '/srv/free.txt', content: '' }), { client: new FakeClient(['once']) })).sent, true);
    assert.deepEqual(owned(bob), [], 'once owns nothing');
  });

  it('adds to the ledger on "for this session" only what is still nobody\'s, and never a root', async function () {
    assert.ok((await run(bob, call(moveFile, { source: '/srv/free.txt', destination: '/srv/other.txt' }), { client: new FakeClient(['session']) })).sent);
    assert.deepEqual(owned(bob).sort(), ['path /srv/free.txt', 'path /srv/other.txt']);
    assert.ok((await run(bob, call(writeFile, { path: '/srv', content: '' }), { client: new FakeClient(['session']) })).sent);
    assert.ok(!owned(bob).includes('path /srv'), 'a root is nobody\'s to own');
  });

  it('judges again as the call leaves: what became another\'s while the form was open refuses it', async function () {
    for (const answer of ['once', 'session'] as const) {
      const gate = index.ledgerFor(`racer-${answer}`);
      const client = new FakeClient([answer]);
      const path = `/srv/race-${answer}`;
      client.meanwhile = () => void alice.record('fs', 'create_directory', [{ value: path, kind: 'path', canonical: path }]);
      const outcome = await run(gate, call(writeFile, { path: `${path}/f.txt`, content: 'b' }), { client });
      assert.equal(outcome.sent, false, answer);
      assert.match(outcome.text, /another session owns it, .*; this changed while the call waited for its approval, so the call was not sent/);
      assert.deepEqual(owned(gate), []);
    }
  });

  it('owns only what a call made: not what existed before it, not a root, not an ambiguous place', async function () {
    const existing = new Set(['/srv/old']);
    const probe = { tool: 'get_file_info', argument: 'path' };
    await run(alice, call(createDirectory, { path: '/srv/old' }, { existenceProbe: probe }), { existing });
    await run(alice, call(createDirectory, { path: '/' }, { existenceProbe: probe }), { existing });
    await run(alice, call(createDirectory, { path: '/srv/' }, { existenceProbe: probe }), { existing });
    assert.deepEqual(owned(alice), []);
    const twoBases: Spelling = { ...posix, bases: ['/srv', '/data'] };
    await run(alice, call(createDirectory, { path: 'new' }, { existenceProbe: probe, spelling: twoBases }), { existing });
    assert.deepEqual(owned(alice), [], 'a relative path that may mean two places');
    await run(alice, call(createDirectory, { path: '/srv/new' }, { existenceProbe: undefined }), { existing });
    assert.deepEqual(owned(alice), [], 'no probe: the hub cannot tell, so it grants nothing');
    await run(alice, call(createDirectory, { path: '/srv/new' }, { existenceProbe: probe }), { existing });
    assert.deepEqual(owned(alice), ['path /srv/new']);
    const failed = await admit(call(createDirectory, { path: '/srv/failed' }, { existenceProbe: probe }), { ledger: alice, journal: journal() }, { ask: new FakeClient().ask, probe: probeOf(existing) });
    assert.ok(failed.proceed);
    if (failed.proceed) await failed.settle({ isError: true, content: [{ type: 'text', text: 'EACCES' }] });
    assert.deepEqual(owned(alice), ['path /srv/new'], 'a failed call gives back its reservation');
  });

  it('owns only the entities a result lists as made', async function () {
    const args = { entities: [{ name: 'Ada', entityType: 'p', observations: [] }, { name: 'Old', entityType: 'p', observations: [] }] };
    await run(alice, call(createEntities, args, { upstream: 'memory' }), { result: { content: [{ type: 'text', text: JSON.stringify([args.entities[0]]) }] } });
    assert.deepEqual(owned(alice), ['name Ada']);
    await run(bob, call(createEntities, { entities: [{ name: 'Old', entityType: 'p', observations: [] }] }, { upstream: 'memory' }), { result: { content: [{ type: 'text', text: '[]' }] } });
    assert.deepEqual(owned(bob), [], 'an empty list: it made nothing');
    assert.equal(judge(call(deleteEntities, { entityNames: ['Bob', 'Ada'] }, { upstream: 'memory' }), bob).outcome, 'refuse');
    assert.equal(judge(call(deleteEntities, { entityNames: ['Bob', 'A'.repeat(1100)] }, { upstream: 'memory' }), bob).outcome, 'ask', 'long names are judged, not skipped');
    assert.equal(judge(call(addObservations, { observations: [{ entityName: 'Ada', contents: ['x'] }] }, { upstream: 'memory' }), bob).outcome, 'refuse');
    const many = Array.from({ length: 1001 }, (_, i) => `e${i}`);
    assert.match((judge(call(deleteEntities, { entityNames: many }, { upstream: 'memory' }), alice) as { reason: string }).reason, /judges at most 1000 per call/);
  });

  it('gives exactly one of two racing creators the thing', async function () {
    const probe = { tool: 'get_file_info', argument: 'path' };
    const both = await Promise.all([alice, bob].map((ledger) => run(ledger, call(createDirectory, { path: '/srv/same' }, { existenceProbe: probe }))));
    assert.equal(owned(alice).length + owned(bob).length, 1);
    assert.equal(both.filter((outcome) => outcome.sent).length, 1, 'the loser is refused before its call is sent');
  });

  it('always asks a command tool, showing the command, and owns what its result names', async function () {
    const rules = safeModeProfiles['desktop-commander'].tools;
    const client = new FakeClient(['once']);
    const started = await run(alice, call(startProcess, { command: 'sleep 60' }, { upstream: 'dc', rule: rules.start_process }), {
      client,
      result: { content: [{ type: 'text', text: 'Process started with PID 4242 (shell: /bin/bash)' }] },
    });
    assert.ok(started.sent);
    assert.equal(client.asked[0]?.command, 'sleep 60');
    assert.equal(client.asked[0]?.sessionChoice, false);
    assert.deepEqual(owned(alice), ['id 4242']);
    assert.equal(judge(call(killProcess, { pid: 4242 }, { upstream: 'dc', rule: rules.kill_process }), bob).outcome, 'refuse');
    assert.equal(judge(call(killProcess, { pid: 4242 }, { upstream: 'dc', rule: rules.kill_process }), alice).outcome, 'proceed');
  });

  it("keeps an ended session's things from everyone until released, and gives them back if it returns", async function () {
    await run(alice, call(createDirectory, { path: '/srv/a' }, { existenceProbe: { tool: 'get_file_info', argument: 'path' } }));
    alice.end({ at: Date.parse('2026-12-02T10:00:00Z'), reason: 'idle timeout' });
    const client = new FakeClient(['once']);
    const refused = await run(bob, call(writeFile, { path: '/srv/a/x', content: '' }), { client });
    assert.match(refused.text, /belongs to a session that ended at 2026-12-02T10:00:00.000Z/);
    assert.equal(client.asked.length, 0);
    assert.doesNotMatch(refused.text, /alice/, "the owner's id (perhaps a key that joins it) is never shown");
    const back = index.ledgerFor('alice');
    assert.equal(judge(call(writeFile, { path: '/srv/a/x', content: '' }), back).outcome, 'proceed', 'the same session id takes its ledger up again');
    back.end({ at: Date.now(), reason: 'gone' });
    assert.equal(index.releaseTombstones({ session: 'alice' }), 1);
    assert.equal(judge(call(writeFile, { path: '/srv/a/x', content: '' }), bob).outcome, 'ask', 'released: nobody\'s');
  });

  it('records what a creating call makes even with safe mode off, and still not what existed', async function () {
    const off = (args: Record<string, unknown>) => call(createDirectory, args, { enabled: false, existenceProbe: { tool: 'get_file_info', argument: 'path' } });
    await run(alice, off({ path: '/srv/made' }), { existing: new Set(['/srv/was']) });
    await run(alice, off({ path: '/srv/was' }), { existing: new Set(['/srv/was']) });
    assert.deepEqual(owned(alice), ['path /srv/made']);
    const rule: SafeModeToolRule = { kind: 'destructive' };
    assert.ok((await run(bob, call(writeFile, { path: '/srv/made/x', content: '' }, { enabled: false, rule }))).sent, 'off: nothing refused');
  });
});
