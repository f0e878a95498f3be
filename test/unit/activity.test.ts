import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ActivityLog, ActivityRedactor, defaultActivitySettings, matchesActivity, type ActivityRecord } from '../../src/core/infra/activity';
import { AuditTrail, auditFiles } from '../../src/hub/auditTrail';
import { tempDir, testLogger } from '../support/hubHarness';

const record = (n: number): ActivityRecord => ({ seq: n, at: new Date(0).toISOString(), kind: 'call', tool: `t${n}`, outcome: 'ok', args: { padding: 'x'.repeat(80) } });

describe('activity records', function () {
  it('masks secret-like properties at any depth, and the configured names', function () {
    const redactor = new ActivityRedactor({ redact: ['Nickname'], maxArgumentChars: 10_000 });
    const args = {
      query: 'fine',
      token: 'a',
      password: 'b',
      apiKey: 'c',
      api_key: 'c2',
      Authorization: 'd',
      clientSecret: 'e',
      list: [{ accessToken: 'f' }, { nickname: 'g' }],
    };
    assert.deepEqual(redactor.arguments(args).args, {
      query: 'fine',
      token: '[redacted]',
      password: '[redacted]',
      apiKey: '[redacted]',
      api_key: '[redacted]',
      Authorization: '[redacted]',
      clientSecret: '[redacted]',
      list: [{ accessToken: '[redacted]' }, { nickname: '[redacted]' }],
    });
  });

  it('cuts long arguments after masking, so a masked value never shows in the cut text', function () {
    const redactor = new ActivityRedactor({ redact: [], maxArgumentChars: 40 });
    const cut = redactor.arguments({ password: 'p'.repeat(100), text: 'y'.repeat(100) });
    assert.equal(cut.argsTruncated, true);
    assert.equal(typeof cut.args, 'string');
    assert.ok((cut.args as string).length <= 41);
    assert.ok(!(cut.args as string).includes('ppp'));
  });

  it("scrubs what masked properties held out of a text an upstream echoed", function () {
    const redactor = new ActivityRedactor({ redact: [], maxArgumentChars: 100 });
    assert.equal(redactor.scrub('login failed for bob with hunter22 (hunter22)', { user: 'bob', auth: { password: 'hunter22' } }), 'login failed for bob with [redacted] ([redacted])');
  });

  it('keeps the newest records up to its size, oldest first, and resumes after a sequence number', function () {
    const log = new ActivityLog({ ...defaultActivitySettings, bufferSize: 3 });
    const seen: number[] = [];
    log.onDidAdd((r) => seen.push(r.seq));
    for (let i = 0; i < 5; i++) log.add({ kind: 'call', tool: `t${i}`, outcome: 'ok' });
    assert.deepEqual(
      log.records().map((r) => r.tool),
      ['t2', 't3', 't4'],
    );
    assert.deepEqual(
      log.records(4).map((r) => r.seq),
      [5],
    );
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  });

  it('filters by session (with its chats), tool and outcome', function () {
    const chatCall: ActivityRecord = { seq: 1, at: '', kind: 'call', session: 's1/chat:c1', chat: 'c1', tool: 'x', outcome: 'refused' };
    assert.equal(matchesActivity(chatCall, { session: 's1' }), true);
    assert.equal(matchesActivity(chatCall, { session: 'c1' }), true);
    assert.equal(matchesActivity(chatCall, { session: 's2' }), false);
    assert.equal(matchesActivity(chatCall, { tool: 'x', outcome: 'refused' }), true);
    assert.equal(matchesActivity(chatCall, { outcome: 'ok' }), false);
  });
});

describe('audit trail', function () {
  it('writes JSON lines 0600 in a 0700 folder and rotates at its size, keeping the configured number of files', async function () {
    const folder = join(tempDir(), 'audit');
    const audit = new AuditTrail(folder, { enabled: true, maxFileBytes: 1024, files: 2 }, testLogger());
    const line = Buffer.byteLength(`${JSON.stringify(record(1))}\n`);
    const perFile = Math.floor(1024 / line);
    const total = perFile * 5;
    for (let i = 1; i <= total; i++) audit.append(record(i));
    await audit.close();
    assert.equal(statSync(folder).mode & 0o777, 0o700);
    const files = auditFiles(folder, 2).filter((file) => existsSync(file));
    assert.deepEqual(files.map((file) => file.slice(folder.length + 1)), ['activity.2.jsonl', 'activity.1.jsonl', 'activity.jsonl']);
    assert.ok(!existsSync(join(folder, 'activity.3.jsonl')));
    const seqs: number[] = [];
    for (const file of files) {
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.ok(statSync(file).size <= 1024, `${file} is past its size`);
      for (const text of readFileSync(file, 'utf8').split('\n').filter(Boolean)) seqs.push((JSON.parse(text) as ActivityRecord).seq);
    }
    // The newest records, in order, with none lost between the files kept.
    assert.equal(seqs.at(-1), total);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => total - seqs.length + 1 + i));
    assert.equal(audit.written, total);
    assert.equal(audit.dropped, 0);
  });

  it('counts a write it could not make, and goes on once it can', async function () {
    const folder = join(tempDir(), 'audit');
    const drops: number[] = [];
    const audit = new AuditTrail(folder, { enabled: true, maxFileBytes: 1 << 20, files: 1 }, testLogger(), (count) => drops.push(count));
    // A folder where the file should be: no write can succeed, even as root (a full disk fails the same way).
    mkdirSync(audit.path);
    audit.append(record(1));
    audit.append(record(2));
    await audit.flush();
    assert.equal(audit.dropped, 2);
    assert.deepEqual(drops, [2]);
    assert.ok(audit.lastError);
    rmdirSync(audit.path);
    audit.append(record(3));
    await audit.close();
    assert.equal(audit.lastError, undefined);
    assert.equal(audit.written, 1);
  });
});
