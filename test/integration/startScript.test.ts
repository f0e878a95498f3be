import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { testAdminToken, testToken } from '../support/hubHarness';

const repo = join(__dirname, '..', '..', '..');
const bundle = join(repo, 'dist', 'cli.js');

/**
 * Runs `npm start -- <args>` in its own process group until it prints the ready line, then ends
 * the whole group (npm, its shell, the hub) whatever happened.
 */
async function startUntilReady(args: string[]): Promise<{ output: string }> {
  const child = spawn('npm', ['start', '--', ...args], { cwd: repo, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MCP_SESSION_HUB_TOKEN: '', MCP_SESSION_HUB_ADMIN_TOKEN: '' } });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        output += `${line}\n`;
        if (line.startsWith('{"event":"ready"')) resolve();
      });
      void exit.then(() => reject(new Error(`npm start exited before it was ready: ${output}`)));
    });
    return { output };
  } finally {
    const group = -child.pid!;
    try {
      process.kill(group, 'SIGTERM');
    } catch {
      // already gone
    }
    const killer = setTimeout(() => {
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        // gone
      }
    }, 8_000);
    await exit;
    clearTimeout(killer);
  }
}

const builtAt = () => statSync(bundle).mtimeMs;

/** `npm start` builds only what changed: a current build starts as it is (issue 27). */
describe('npm start', function () {
  this.timeout(120_000);

  it('serves without rebuilding when dist/ is current, and rebuilds after a source file changed', async function () {
    const flags = ['--port', '0', '--json', '--token', testToken, '--admin-token', testAdminToken];
    await startUntilReady(flags); // builds if this checkout's dist/ is older than its sources
    const before = builtAt();
    const current = await startUntilReady(flags);
    assert.equal(builtAt(), before, `npm start rebuilt a current dist/: ${current.output}`);

    const source = join(repo, 'src', 'demo', 'demoServer.ts');
    const now = new Date();
    utimesSync(source, now, now);
    await startUntilReady(flags);
    assert.ok(builtAt() > before, 'npm start ran a stale dist/ after a source changed');
  });
});
