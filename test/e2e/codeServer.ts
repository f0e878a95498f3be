/**
 * code-server (VS Code 1.139 with a real Node extension host) for the end-to-end tests: installed
 * from npm on first use into .vscode-test/ (like @vscode/test-electron's download), started on a
 * loopback port with a profile of its own, stopped with its whole process group.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { aptInstall } from '../support/chromium';
import { ensureModernNode, findRepoRoot } from '../support/modernNode';
import { freePort } from '../support/net';

export const codeServerVersion = '4.139.1';

/** Where code-server lives once installed; its install builds native addons against Node 24. */
function installDir(): string {
  return join(findRepoRoot(), '.vscode-test', `code-server-${codeServerVersion}`);
}

export type CodeServerInstall = { binary: string; node: string };

/** Installs code-server if needed (3-4 min cold on 2 cores); undefined with a reason when it cannot. */
export async function ensureCodeServer(): Promise<CodeServerInstall | { why: string }> {
  if (process.platform !== 'linux') return { why: 'the code-server harness is set up for Linux' };
  const node = await ensureModernNode(24);
  const nodeDir = dirname(dirname(node));
  const dir = installDir();
  const binary = join(dir, 'node_modules', '.bin', 'code-server');
  // npm 11 skips dependencies' install scripts unless allowed; code-server's postinstall builds
  // VS Code's native addons (with nested installs), so this install allows them all.
  // Under `npm test` the environment carries the project's npm settings (npm_config_local_prefix
  // and the like), which would point this install at the project: start from a clean one.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  const env = { ...inherited, PATH: `${dirname(node)}:${process.env.PATH ?? ''}`, npm_config_nodedir: nodeDir, npm_config_dangerously_allow_all_scripts: 'true' };
  if (!existsSync('/usr/include/gssapi/gssapi.h')) {
    // code-server's kerberos addon needs the gssapi headers.
    if (process.getuid?.() !== 0) return { why: 'libkrb5-dev is missing (sudo apt-get install libkrb5-dev)' };
    aptInstall(['libkrb5-dev']);
  }
  if (!existsSync(join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js')) || !existsSync(join(dir, '.installed'))) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{ "name": "code-server-host", "private": true }\n');
    try {
      execFileSync('npm', ['install', '--no-audit', '--no-fund', `code-server@${codeServerVersion}`], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 900_000 });
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? '').split('\n').filter((line) => !/nodedir/.test(line)).slice(-15).join('\n');
      throw new Error(`npm install code-server@${codeServerVersion} in ${dir} failed:\n${stderr}`);
    }
    writeFileSync(join(dir, '.installed'), `${codeServerVersion}\n`);
  }
  return { binary, node };
}

export type RunningCodeServer = { url: string; process: ChildProcess; stop(): Promise<void> };

/** Starts code-server on `port` with its own profile under `runDir`, opening `folder`. */
export async function startCodeServer(install: CodeServerInstall, options: { runDir: string; port: number; folder: string; env?: NodeJS.ProcessEnv; extraArgs?: string[] }): Promise<RunningCodeServer> {
  const { runDir, port } = options;
  for (const sub of ['user-data/User', 'extensions', 'xdg-config', 'xdg-data', 'tmp']) mkdirSync(join(runDir, sub), { recursive: true });
  writeFileSync(join(runDir, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const env = {
    ...process.env,
    PATH: `${dirname(install.node)}:${process.env.PATH ?? ''}`,
    TMPDIR: join(runDir, 'tmp'),
    XDG_CONFIG_HOME: join(runDir, 'xdg-config'),
    XDG_DATA_HOME: join(runDir, 'xdg-data'),
    ...options.env,
  };
  const common = ['--config', join(runDir, 'config.yaml'), '--user-data-dir', join(runDir, 'user-data'), '--extensions-dir', join(runDir, 'extensions')];
  const child = spawn(
    install.binary,
    [
      ...common,
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override',
      // Each page load starts an extension host; the old one would otherwise live for hours.
      '--reconnection-grace-time', '5',
      ...(options.extraArgs ?? []),
      options.folder,
    ],
    { env, detached: true, stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    // Its children respawn as orphans when killed one by one: end the whole group.
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode} before it was ready`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error('code-server did not answer /healthz within 60 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { url, process: child, stop };
}

/** Installs a VSIX into the profile's extensions folder. */
export function installVsix(install: CodeServerInstall, runDir: string, vsix: string): void {
  execFileSync(install.binary, ['--user-data-dir', join(runDir, 'user-data'), '--extensions-dir', join(runDir, 'extensions'), '--install-extension', vsix, '--force'], {
    env: { ...process.env, PATH: `${dirname(install.node)}:${process.env.PATH ?? ''}`, TMPDIR: join(runDir, 'tmp') },
    stdio: 'ignore',
    timeout: 120_000,
  });
}

/**
 * A VS Code profile for the in-host suite: a workspace, and user settings that point the
 * extension at a free port and at a hub config with the demo and a per-session upstream.
 */
export async function prepareProfile(runDir: string): Promise<{ workspace: string; userDataDir: string; files: string }> {
  const repo = findRepoRoot();
  const workspace = join(runDir, 'workspace');
  const userDataDir = join(runDir, 'user-data');
  mkdirSync(workspace, { recursive: true });
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  // A folder served by the real filesystem server, with a file nobody in the hub created: safe
  // mode asks before a chat may write it.
  const files = join(runDir, 'files');
  mkdirSync(files, { recursive: true });
  writeFileSync(join(files, 'shared.txt'), 'written before the hub\n');
  const configPath = join(runDir, 'hub.jsonc');
  writeFileSync(
    configPath,
    JSON.stringify({
      servers: {
        demo: { command: process.execPath, args: [join(repo, 'dist', 'demo-server.js')] },
        browser: { command: process.execPath, args: [join(repo, 'out', 'test', 'fixtures', 'passthroughFixture.js'), '--stdio'], perSession: true, warm: 0 },
        files: { command: process.execPath, args: [require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js'), files] },
      },
      virtualServers: {
        editor: { title: 'Editor', upstreams: ['demo'], tools: ['demo/*_item', 'demo/list_items'], naming: 'bare' },
        browser: { title: 'Browser', upstreams: ['browser'], tools: ['browser/recall', 'browser/remember'], naming: 'bare' },
        files: { title: 'Files', upstreams: ['files'], tools: ['files/write_file', 'files/read_text_file'], naming: 'bare' },
      },
    }),
  );
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'extensions.autoCheckUpdates': false,
      'security.workspace.trust.enabled': false,
      'chat.tools.global.autoApprove': true,
      'mcpSessionHub.port': await freePort(),
      'mcpSessionHub.configPath': configPath,
    }),
  );
  return { workspace, userDataDir, files };
}
