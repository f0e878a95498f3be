import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fixturesDir, tempDir } from '../support/hubHarness';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');
const launchEchoFixture = join(fixturesDir, 'launchEchoFixture.js');
const clientToken = 'the-hubs-own-client-token-123';
const adminToken = 'the-hubs-own-admin-token-456';
/** The hub's own tokens, in its environment: what a config must never hand on. */
const hubEnv = { ...process.env, MCP_SESSION_HUB_TOKEN: clientToken, MCP_SESSION_HUB_ADMIN_TOKEN: adminToken };

/**
 * Runs `serve` until its ready line (or its exit) and stops it; the child is killed whatever happens.
 * Resolves with its exit code (null when it got ready) and stderr.
 */
async function serveOnce(args: string[], env: NodeJS.ProcessEnv): Promise<{ ready: boolean; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => createInterface({ input: child.stdout }).once('line', () => resolve(true))),
      exit.then(() => false),
      new Promise<boolean>((_, reject) => setTimeout(() => reject(new Error(`serve neither ready nor exited within 30 s: ${stderr}`)), 30_000)),
    ]);
    if (!ready) return { ready, code: await exit, stderr };
    child.kill('SIGTERM');
    await exit;
    return { ready, code: null, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describe("the hub's secrets stay the hub's", function () {
  this.timeout(60_000);

  it('refuses ${env:MCP_SESSION_HUB_…} and ${MCP_SESSION_HUB_…} in a config, at their JSON paths, and never prints the tokens', async function () {
    const dir = tempDir('hub-secrets-');
    const configPath = join(dir, 'hub.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        servers: {
          child: { command: process.execPath, args: [launchEchoFixture], env: { LEAK: '${env:MCP_SESSION_HUB_ADMIN_TOKEN}' } },
          remote: { url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer ${MCP_SESSION_HUB_TOKEN}' } },
          sneaky: { command: process.execPath, args: [launchEchoFixture, '${env:mcp_session_hub_token}'] },
        },
      }),
    );
    const run = await serveOnce(['--config', configPath, '--token-file', join(dir, 'token')], hubEnv);
    assert.equal(run.ready, false, 'the hub started on a config that hands its tokens on');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /servers\.child\.env\.LEAK: \$\{env:MCP_SESSION_HUB_ADMIN_TOKEN\}: .*hub's own/);
    assert.match(run.stderr, /servers\.remote\.headers\.Authorization: \$\{MCP_SESSION_HUB_TOKEN\}: .*hub's own/);
    assert.match(run.stderr, /servers\.sneaky\.args\[1\]: \$\{env:mcp_session_hub_token\}: .*hub's own/);
    assert.doesNotMatch(run.stderr, new RegExp(`${clientToken}|${adminToken}`));
  });

  it('import refuses to copy a reference to the hub\'s own variables', function () {
    const dir = tempDir('hub-secrets-import-');
    const from = join(dir, '.mcp.json');
    writeFileSync(
      from,
      JSON.stringify({
        mcpServers: {
          leaky: { command: process.execPath, args: [launchEchoFixture], env: { T: '${MCP_SESSION_HUB_ADMIN_TOKEN}' } },
          fine: { command: process.execPath, args: [launchEchoFixture, 'fine'] },
        },
      }),
    );
    const run = spawnSync(process.execPath, [cli, 'import', '--from', from, '--workspace', dir], { env: hubEnv, encoding: 'utf8', cwd: dir });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /MCP_SESSION_HUB_ADMIN_TOKEN/, 'the reference was copied into the hub config');
    assert.match(run.stdout, /"fine"/);
    assert.match(run.stderr, /skipped 'leaky' from .*servers\.leaky\.env\.T: \$\{MCP_SESSION_HUB_ADMIN_TOKEN\}: .*hub's own/);
  });

  it("puts loose token files, and the hub's token folder, back to 0600 and 0700", async function () {
    const home = tempDir('hub-secrets-home-');
    const dir = join(home, '.mcp-session-hub');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const tokenFile = join(dir, 'token');
    const adminTokenFile = join(dir, 'admin-token');
    writeFileSync(tokenFile, 'kept-client-token\n');
    chmodSync(tokenFile, 0o666);
    writeFileSync(adminTokenFile, 'kept-admin-token\n');
    chmodSync(adminTokenFile, 0o644);
    const run = await serveOnce([], { ...process.env, HOME: home, MCP_SESSION_HUB_TOKEN: '', MCP_SESSION_HUB_ADMIN_TOKEN: '' });
    assert.equal(run.ready, true, run.stderr);
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    assert.equal(statSync(adminTokenFile).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(readFileSync(tokenFile, 'utf8'), 'kept-client-token\n', 'the token itself is kept');
    assert.match(run.stderr, /token folder .*\.mcp-session-hub was open to other users \(mode 0755\); now 0700/);
    assert.match(run.stderr, /token file .*token was open to other users \(mode 0666\); now 0600/);
  });

  it("refuses a token file that is not the user's own", async function () {
    if (process.getuid?.() !== 0) this.skip(); // only root can give a file to another user
    const dir = join(tempDir('hub-secrets-owner-'), 'state');
    mkdirSync(dir, { mode: 0o700 });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'planted-token\n', { mode: 0o600 });
    chownSync(tokenFile, 65534, 65534);
    const run = await serveOnce(['--token-file', tokenFile], { ...process.env, MCP_SESSION_HUB_TOKEN: '', MCP_SESSION_HUB_ADMIN_TOKEN: '' });
    assert.equal(run.ready, false, 'the hub used a token file another user owns');
    assert.equal(run.code, 2);
    assert.match(run.stderr, new RegExp(`token file ${tokenFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is owned by uid 65534, not by this user \\(uid 0\\)`));
  });

  it('warns that --token and --admin-token are readable by other local users, naming the alternatives', async function () {
    const run = await serveOnce(['--token', clientToken, '--admin-token', adminToken], { ...process.env, MCP_SESSION_HUB_TOKEN: '', MCP_SESSION_HUB_ADMIN_TOKEN: '' });
    assert.equal(run.ready, true, run.stderr);
    assert.match(run.stderr, /--token: other local users can read it in \/proc\/<pid>\/cmdline.*MCP_SESSION_HUB_TOKEN.*--token-file/);
    assert.match(run.stderr, /--admin-token: other local users can read it in \/proc\/<pid>\/cmdline.*MCP_SESSION_HUB_ADMIN_TOKEN.*--admin-token-file/);
  });
});
