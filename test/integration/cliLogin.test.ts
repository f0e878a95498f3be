import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startOAuthFixture, type OAuthFixture } from '../fixtures/oauthFixture';
import { tempDir, waitFor } from '../support/hubHarness';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

type Run = { child: ChildProcess; lines: string[]; stderr: () => string; exit: Promise<number | null> };

function run(args: string[]): Run {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MCP_SESSION_HUB_TOKEN: '', MCP_SESSION_HUB_ADMIN_TOKEN: '' } });
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, stderr: () => stderr, exit };
}

async function stop(running: Run | undefined): Promise<void> {
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill('SIGTERM');
  const timer = setTimeout(() => running.child.kill('SIGKILL'), 5_000);
  await running.exit;
  clearTimeout(timer);
}

/** The headless hub and `mcp-session-hub login`, real processes, against an OAuth fixture on loopback. */
describe('mcp-session-hub login', function () {
  this.timeout(60_000);
  let fixture: OAuthFixture;
  const runs: Run[] = [];
  before(async () => (fixture = await startOAuthFixture()));
  after(async () => {
    await Promise.all(runs.map(stop));
    await fixture.close();
  });

  it('gives the URL in the ready line, prints it from `login` and waits for the redirect; stored tokens survive a restart; no token in any output', async function () {
    const dir = tempDir('hub-cli-oauth-');
    const config = join(dir, 'hub.json');
    writeFileSync(config, JSON.stringify({ servers: { remote: { type: 'http', url: fixture.mcpUrl } } }));
    const serveArgs = ['serve', '--port', '0', '--json', '--token-file', join(dir, 'token'), '--config', config, '--log-level', 'debug'];
    const serve = run(serveArgs);
    runs.push(serve);
    await waitFor(() => serve.lines.length > 0 || serve.child.exitCode !== null, 20_000, 'the ready line');
    const ready = JSON.parse(serve.lines[0]) as { url: string; signIn: Record<string, string | null> };
    assert.match(ready.signIn.remote ?? '', /\/authorize\?/, 'the ready line gives the authorization URL');

    const login = run(['login', 'remote', '--url', ready.url, '--admin-token-file', join(dir, 'admin-token'), '--no-browser', '--timeout', '30']);
    runs.push(login);
    await waitFor(() => login.lines.some((line) => /^\s+http:\/\/127\.0\.0\.1:\d+\/authorize\?/.test(line)) || login.child.exitCode !== null, 20_000, `login prints the URL (${login.stderr()})`);
    const url = (login.lines.find((line) => /\/authorize\?/.test(line)) ?? '').trim();
    const approved = await fetch(url, { redirect: 'manual' });
    const callback = await fetch(approved.headers.get('location') ?? '');
    assert.equal(callback.status, 200);
    assert.equal(await login.exit, 0, `login exits 0 once ready: ${login.lines.join('\n')}${login.stderr()}`);
    assert.ok(login.lines.some((line) => line.includes('remote: signed in and ready')));
    assert.equal(statSync(join(dir, 'oauth-credentials.json')).mode & 0o777, 0o600);
    await stop(serve);

    const again = run(serveArgs);
    runs.push(again);
    await waitFor(() => again.lines.length > 0 || again.child.exitCode !== null, 20_000, 'the ready line after a restart');
    assert.deepEqual((JSON.parse(again.lines[0]) as { signIn: object }).signIn, {}, 'no sign-in needed after a restart');
    await stop(again);
    assert.equal(fixture.stats.authorizations, 1);

    const outputs = [serve.stderr(), ...serve.lines, again.stderr(), ...again.lines, login.stderr(), ...login.lines].join('\n');
    assert.ok(outputs.includes('signed in'), 'the logs were read');
    for (const token of fixture.stats.issued) assert.ok(!outputs.includes(token), 'a token appears in the CLI output');
  });
});
