import assert from 'node:assert/strict';
import type { ActivityRecord } from '../../src/core/infra/activity';
import { ActivityList } from '../../src/ui/activityList';
import {
  activityDetails,
  activityJsonl,
  activityPageSize,
  activityRow,
  buildActivityView,
  filterActivity,
  filterOptions,
  outcomeTone,
  relatedRecords,
  workspaceSessionOf,
} from '../../src/ui/activityView';
import { parseFromDashboard } from '../../src/ui/messages';

const workspace = 'a1b2c3d4-0000-4000-8000-000000000000';
const chatA = `${workspace}/chat:conv-aaaaaaaaaaaaaaaa`;
const chatB = `${workspace}/chat:conv-bbbbbbbbbbbbbbbb`;

let seq = 0;
const call = (extra: Partial<ActivityRecord>): ActivityRecord => ({
  seq: ++seq,
  at: new Date(Date.UTC(2026, 0, 1, 12, 0, seq)).toISOString(),
  kind: 'call',
  method: 'tools/call',
  session: workspace,
  client: 'code-server',
  upstream: 'files',
  tool: 'read_text_file',
  outcome: 'ok',
  latencyMs: 12.3456,
  ...extra,
});

describe('activity view model', function () {
  beforeEach(() => (seq = 0));

  it('filters by kind, session (with its chats), chat, upstream, tool, outcome and text', function () {
    const records = [
      call({}),
      call({ session: chatA, chat: 'conv-aaaaaaaaaaaaaaaa', tool: 'write_file', outcome: 'refused', args: { path: '/tmp/owned.txt' } }),
      call({ session: chatB, chat: 'conv-bbbbbbbbbbbbbbbb', tool: 'write_file', outcome: 'asked→once' }),
      call({ session: 'other-session', upstream: 'demo', tool: 'list_items' }),
      { seq: ++seq, at: new Date(0).toISOString(), kind: 'safe-mode', session: chatA, chat: 'conv-aaaaaaaaaaaaaaaa', tool: 'write_file', outcome: 'refused' } as ActivityRecord,
    ];
    const seqs = (query: Parameters<typeof filterActivity>[1]) => filterActivity(records, query).map((record) => record.seq);
    assert.deepEqual(seqs({}), [5, 4, 3, 2, 1], 'newest first');
    assert.deepEqual(seqs({ kind: 'call' }), [4, 3, 2, 1]);
    assert.deepEqual(seqs({ kind: 'call', session: workspace }), [3, 2, 1], "a session's own calls and its chats'");
    assert.deepEqual(seqs({ kind: 'call', chat: 'conv-aaaaaaaaaaaaaaaa' }), [2]);
    assert.deepEqual(seqs({ upstream: 'demo' }), [4]);
    assert.deepEqual(seqs({ tool: 'write_file', kind: 'call' }), [3, 2]);
    assert.deepEqual(seqs({ outcome: 'refused' }), [5, 2]);
    assert.deepEqual(seqs({ text: 'OWNED.TXT' }), [2], 'search is case-insensitive and reaches the arguments');
  });

  it('pages newest first, a hundred rows a page, and clamps a page past the end', function () {
    const records = Array.from({ length: 250 }, () => call({}));
    const first = buildActivityView(records, {}, 0);
    assert.equal(first.rows.length, activityPageSize);
    assert.equal(first.rows[0].seq, 250);
    assert.equal(first.pages, 3);
    assert.equal(first.matched, 250);
    const last = buildActivityView(records, {}, 9);
    assert.equal(last.page, 2);
    assert.deepEqual([last.rows.length, last.rows.at(-1)?.seq], [50, 1]);
    const none = buildActivityView(records, { outcome: 'refused' }, 0);
    assert.deepEqual([none.rows.length, none.pages, none.page, none.kept], [0, 1, 0, 250]);
  });

  it('builds a page of the 5,000 records the hub keeps quickly enough to follow a live stream', function () {
    const records = Array.from({ length: 5000 }, (_, i) => call({ args: { path: `/tmp/file-${i}.txt`, content: 'x'.repeat(200) } }));
    const started = performance.now();
    for (let i = 0; i < 10; i++) buildActivityView(records, { kind: 'call', text: 'file-4999' }, 0);
    const perView = (performance.now() - started) / 10;
    console.log(`        one page of 5,000 records, with a text search: ${perView.toFixed(1)} ms`);
    assert.ok(perView < 250, `${perView} ms`);
  });

  it('formats a row: the chat or the client, the upstream and tool, a coloured outcome, the latency', function () {
    const row = activityRow(call({ session: chatA, chat: 'conv-aaaaaaaaaaaaaaaa', outcome: 'asked→once', latencyMs: 1532.4 }));
    assert.deepEqual({ ...row, time: undefined }, { seq: 1, time: undefined, who: 'chat conv-aaaaaaa…', what: 'files/read_text_file', outcome: 'asked→once', tone: 'asked', latency: '1532 ms' });
    assert.match(row.time, /^\d\d:\d\d:\d\d\.\d{3}$/);
    assert.equal(activityRow(call({ latencyMs: 0.25 })).who, 'code-server · a1b2c3d4');
    assert.equal(activityRow(call({ latencyMs: 0.25 })).latency, '0.3 ms');
    assert.equal(activityRow(call({ method: 'resources/read', tool: 'file:///x' })).what, 'resources/read files/file:///x');
    assert.deepEqual(['ok', 'error', 'refused', 'asked', 'asked→deny', 'asked→timeout', 'started', 'asked→once'].map((outcome) => outcomeTone({ kind: 'call', outcome })), ['ok', 'bad', 'bad', 'asked', 'bad', 'bad', 'ok', 'asked']);
  });

  it("lists a record's details: arguments, result, verdict, identifiers, digest and trace id", function () {
    const details = activityDetails(
      call({ outcome: 'refused', args: { path: '/x', token: '[redacted]' }, detail: 'safe mode: /x belongs to another session', identifiers: ['file /x'], digest: 'ab'.repeat(32), traceId: 'f'.repeat(32), result: '1 text' }),
    );
    const byLabel = new Map(details.map((detail) => [detail.label, detail.value]));
    assert.equal(byLabel.get('Outcome'), 'refused');
    assert.equal(details.find((d) => d.label === 'Outcome')?.tone, 'bad', 'coloured as in its row');
    assert.equal(byLabel.get('Arguments'), '{\n  "path": "/x",\n  "token": "[redacted]"\n}');
    assert.equal(byLabel.get('Detail'), 'safe mode: /x belongs to another session');
    assert.equal(byLabel.get('Identifiers judged'), 'file /x');
    assert.equal(byLabel.get('Call digest'), `sha256:${'ab'.repeat(32)}`);
    assert.equal(byLabel.get('Trace id'), 'f'.repeat(32));
    assert.equal(byLabel.get('Result'), '1 text');
    assert.equal(byLabel.has('Chat'), false, 'absent fields are left out');
  });

  it("adds to a call's details the verdict and approval it met, and no other call's", function () {
    const on = (connection: string, extra: Partial<ActivityRecord>) => call({ connection, tool: 'write_file', ...extra });
    const records = [
      on('c1', { kind: 'safe-mode', outcome: 'refused', detail: 'not yours' }),
      on('c1', {}),
      on('c1', { kind: 'safe-mode', outcome: 'asked', identifiers: ['file /tmp/a.txt'] }),
      on('c2', { kind: 'safe-mode', outcome: 'allowed' }),
      on('c1', { kind: 'approval', outcome: 'asked' }),
      on('c1', { kind: 'approval', outcome: 'once' }),
      on('c1', { kind: 'safe-mode', outcome: 'approved once' }),
      on('c1', { outcome: 'asked→once' }),
    ];
    const ended = records[7];
    assert.deepEqual(relatedRecords(records, ended).map((r) => r.seq), [3, 5, 6, 7]);
    const details = activityDetails(ended, relatedRecords(records, ended));
    assert.deepEqual(details.filter((d) => ['Safe mode', 'Identifiers judged', 'Approval'].includes(d.label)), [
      { label: 'Safe mode', value: 'asked' },
      { label: 'Identifiers judged', value: 'file /tmp/a.txt' },
      { label: 'Safe mode', value: 'approved once' },
      { label: 'Approval', value: 'asked → once' },
    ]);
    assert.deepEqual(relatedRecords(records, records[1]).map((r) => r.seq), [1]);
    assert.deepEqual(relatedRecords(records, records[0]), [], 'only a call has related records');
  });

  it('offers the values the records hold in each filter menu', function () {
    const options = filterOptions([call({ client: 'code-server' }), call({ session: chatA, chat: 'conv-aaaaaaaaaaaaaaaa', client: 'chat client', upstream: 'demo', tool: 'list_items', outcome: 'refused' })]);
    assert.deepEqual(options.session, [{ value: workspace, label: 'code-server · a1b2c3d4' }]);
    assert.deepEqual(options.chat, [{ value: 'conv-aaaaaaaaaaaaaaaa', label: 'chat conv-aaaaaaa…' }]);
    assert.deepEqual(options.upstream.map((o) => o.value), ['demo', 'files']);
    assert.deepEqual(options.tool.map((o) => o.value), ['list_items', 'read_text_file']);
    assert.deepEqual(options.outcome.map((o) => o.value), ['ok', 'refused']);
    assert.equal(workspaceSessionOf(chatA), workspace);
    assert.equal(activityRow(call({ session: 'key:vscode:workspace-1234/chat:c', chat: undefined })).who, 'code-server · vscode:workspace-1234');
  });

  it('exports records as JSON Lines, one parseable record a line', function () {
    const records = [call({ args: { text: 'line\nbreak' } }), call({})];
    const text = activityJsonl(records);
    assert.equal(text.split('\n').length, 3);
    assert.deepEqual(text.trimEnd().split('\n').map((line) => JSON.parse(line) as ActivityRecord), records);
    assert.equal(activityJsonl([]), '');
  });
});

describe('activity list (the host side of the view)', function () {
  it('keeps at most its capacity, newest kept, and drops a repeat', function () {
    seq = 0;
    const list = new ActivityList(3);
    for (let i = 1; i <= 5; i++) assert.equal(list.add(call({})), true);
    assert.deepEqual(list.records.map((r) => r.seq), [3, 4, 5]);
    assert.equal(list.add({ ...list.records[2] }), false, 'a record seen already');
    assert.equal(list.find(4)?.seq, 4);
    assert.equal(list.find(1), undefined, 'dropped');
    list.clear();
    assert.equal(list.records.length, 0);
  });
});

describe('activity messages from the webview', function () {
  it('takes a query of strings and a page, and refuses anything else', function () {
    assert.deepEqual(parseFromDashboard({ type: 'activityQuery', query: { kind: 'call', chat: 'c', text: '', extra: 1 }, page: 2 }), { type: 'activityQuery', query: { kind: 'call', chat: 'c' }, page: 2 });
    assert.equal(parseFromDashboard({ type: 'activityQuery', query: { tool: 5 }, page: 0 }), undefined);
    assert.equal(parseFromDashboard({ type: 'activityQuery', query: {}, page: -1 }), undefined);
    assert.equal(parseFromDashboard({ type: 'activityQuery', query: { text: 'x'.repeat(501) }, page: 0 }), undefined);
    assert.deepEqual(parseFromDashboard({ type: 'activityDetails', seq: 7 }), { type: 'activityDetails', seq: 7 });
    assert.equal(parseFromDashboard({ type: 'activityDetails', seq: '7' }), undefined);
    assert.deepEqual(parseFromDashboard({ type: 'exportActivity' }), { type: 'exportActivity' });
  });
});
