import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { findRepoRoot } from '../support/modernNode';
import { prepareProfile } from './codeServer';

/** A desktop VS Code given by VSCODE_EXECUTABLE, or `code` on PATH; none on these machines. */
function localVsCode(): string | undefined {
  const given = process.env.VSCODE_EXECUTABLE;
  if (given) return existsSync(given) ? given : undefined;
  try {
    const found = execFileSync('which', ['code'], { encoding: 'utf8' }).trim();
    return found || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The same in-host suite as the code-server run, under @vscode/test-electron where a desktop
 * VS Code exists. It never downloads one (these machines cannot).
 */
describe('VS Code desktop (@vscode/test-electron)', function () {
  this.timeout(600_000);
  it('passes the in-host suite in a local desktop VS Code', async function () {
    const executable = localVsCode();
    if (!executable) {
      console.log('      skipped: no desktop VS Code here (set VSCODE_EXECUTABLE to one to run this); the code-server run covers the same suite');
      this.skip();
    }
    const repo = findRepoRoot();
    const { workspace, userDataDir } = await prepareProfile(mkdtempSync(join(tmpdir(), 'hub-desktop-')));
    await runTests({
      vscodeExecutablePath: executable,
      extensionDevelopmentPath: repo,
      extensionTestsPath: join(repo, 'out', 'test', 'vscode', 'suite', 'index.js'),
      launchArgs: [workspace, '--user-data-dir', userDataDir, '--disable-extensions', '--skip-welcome'],
    });
  });
});
