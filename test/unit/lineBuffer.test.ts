import assert from 'node:assert/strict';
import { LineBuffer, LineTooLongError } from '../../src/upstream/lineBuffer';

/** Feeds `bytes` in chunks of `size` bytes; returns every line. */
function feed(buffer: LineBuffer, bytes: Buffer, size: number): string[] {
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += size) lines.push(...buffer.push(bytes.subarray(at, at + size)));
  return lines;
}

describe('LineBuffer (lines of an upstream stdio stream)', function () {
  it('gives the same lines whatever the chunking, multi-byte characters split across chunks included', function () {
    const text = 'héllo wörld €𝄞\r\n{"a":"ünïcode"}\nlast';
    for (const size of [1, 2, 3, 5, 64]) {
      const buffer = new LineBuffer(1024);
      assert.deepEqual(feed(buffer, Buffer.from(text), size), ['héllo wörld €𝄞', '{"a":"ünïcode"}'], `chunks of ${size}`);
      assert.deepEqual(buffer.push(Buffer.from('\n')), ['last']);
    }
  });

  it('decodes invalid UTF-8 as Buffer#toString does', function () {
    const bytes = Buffer.concat([Buffer.from('a'), Buffer.from([0xe2, 0x82]), Buffer.from('b\n')]);
    assert.deepEqual(feed(new LineBuffer(1024), bytes, 2), [bytes.subarray(0, -1).toString('utf8')]);
  });

  it('refuses a line past its limit, counted in bytes, and reads on after it', function () {
    const buffer = new LineBuffer(10);
    assert.throws(() => feed(buffer, Buffer.from('ééééééé'), 3), LineTooLongError); // 14 bytes held
    buffer.clear();
    assert.deepEqual(buffer.push(Buffer.from('ok\n')), ['ok']);
    assert.throws(() => buffer.push(Buffer.from('0123456789a\n')), LineTooLongError);
    assert.deepEqual(buffer.push(Buffer.from('0123456789\n')), ['0123456789']);
  });

  it('reads a large message in 64 KiB chunks as the one string it was sent as', function () {
    const message = JSON.stringify({ text: 'y'.repeat(3 * 1024 * 1024) });
    const lines = feed(new LineBuffer(4 * 1024 * 1024), Buffer.from(`${message}\n`), 64 * 1024);
    assert.equal(lines.length, 1);
    assert.equal(lines[0], message);
  });
});
