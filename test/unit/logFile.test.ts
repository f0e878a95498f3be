import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogFile } from '../../src/cli/logFile';
import { tempDir } from '../support/hubHarness';

describe('LogFile (serve --log-file)', function () {
  it('appends, keeps the file private, and moves it to .1 past its bound', function () {
    const path = join(tempDir('log-file-'), 'hub.log');
    writeFileSync(path, 'before\n', { mode: 0o666 });
    const file = new LogFile(path, 100);
    try {
      if (process.platform !== 'win32') assert.equal(statSync(path).mode & 0o777, 0o600);
      file.write('one\n');
      assert.equal(readFileSync(path, 'utf8'), 'before\none\n');
      const line = `${'x'.repeat(59)}\n`;
      file.write(line);
      file.write(line); // past 100 bytes: the file so far becomes hub.log.1
      assert.equal(readFileSync(`${path}.1`, 'utf8'), `before\none\n${line}`);
      assert.equal(readFileSync(path, 'utf8'), line);
      if (process.platform !== 'win32') assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(file.dropped, 0);
    } finally {
      file.close();
    }
    file.write('after close\n');
    assert.equal(file.dropped, 1, 'a failed write is dropped and counted');
  });

  it('refuses a file it cannot open', function () {
    assert.throws(() => new LogFile(join(tempDir('log-file-'), 'missing', 'hub.log')), /ENOENT/);
  });
});
