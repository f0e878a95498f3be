import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/core/config/config';
import { cliPath } from '../support/cli';
import { connectClient, firstText, fixturesDir, tempDir, testAdminToken, testToken } from '../support/hubHarness';
import { spawnReady } from '../support/readyChild';

const launchEchoFixture = join(fixturesDir, 'launchEchoFixture.js');

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

/** A stdio entry for the echo fixture; `tag` tells the servers apart (and makes their launches differ). */
const echo = (tag: string, extra: Record<string, unknown> = {}) => ({ command: process.execPath, args: [launchEchoFixture, tag], ...extra });

/**
 * `mcp-session-hub import` over a home folder laid out as VS Code, Claude Desktop, Claude Code and
 * Cursor leave it: the printed config is valid, a second import adds nothing, comments stay, and
 * `serve` runs the result with an input given on its command line.
 */
describe('mcp-session-hub import', function () {
  this.timeout(60_000);
  let home: string;
  let workspace: string;
  let env: NodeJS.ProcessEnv;

  before(function () {
    home = tempDir('hub-import-home-');
    workspace = join(home, 'work', 'app');
    mkdirSync(workspace, { recursive: true });
    env = { ...process.env, HOME: home, MCP_SESSION_HUB_TOKEN: '', MCP_SESSION_HUB_ADMIN_TOKEN: '' };
    const vscodeUser = join(home, '.config', 'Code', 'User');
    write(join(vscodeUser, '.env'), 'FROM_ENV_FILE=user-env\n');
    write(
      join(vscodeUser, 'mcp.json'),
      JSON.stringify({
        inputs: [{ type: 'promptString', id: 'tok', description: 'API token', password: true }],
        servers: { 'echo.vscode': { type: 'stdio', ...echo('--token=${input:tok}'), envFile: '.env' } },
      }),
    );
    write(join(workspace, '.vscode', 'mcp.json'), JSON.stringify({ servers: { project: echo('${workspaceFolder}') } }));
    write(join(home, '.config', 'Claude', 'claude_desktop_config.json'), JSON.stringify({ mcpServers: { desktop: echo('desktop') } }));
    write(
      join(home, '.claude.json'),
      JSON.stringify({ numStartups: 3, mcpServers: { 'claude-code': { type: 'stdio', ...echo('claude-code'), env: {} } }, projects: { [workspace]: { mcpServers: { 'claude-project': echo('claude-project') } } } }),
    );
    // The same server as VS Code's under another id, a Cursor-only remote, and one the hub cannot take.
    write(
      join(home, '.cursor', 'mcp.json'),
      JSON.stringify({ mcpServers: { 'same-as-vscode': echo('--token=${input:tok}'), remote: { url: 'http://127.0.0.1:9/mcp' }, odd: echo('${config:editor.tabSize}') } }),
    );
  });

  after(function () {
    rmSync(home, { recursive: true, force: true });
  });

  function runImport(args: string[]) {
    const run = spawnSync(process.execPath, [cliPath, 'import', '--workspace', workspace, ...args], { env, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    return run;
  }

  it('prints one valid config with every source, each server once, its inputs and a virtual server each', function () {
    const run = runImport([]);
    const config = parseConfig(run.stdout, 'printed', { inputs: { tok: 't' }, workspaceFolder: workspace });
    assert.deepEqual([...config.upstreams.keys()].sort(), ['claude-code', 'claude-project', 'desktop', 'echo.vscode', 'project', 'remote']);
    assert.deepEqual([...config.inputs.keys()], ['tok']);
    assert.deepEqual([...config.virtualServers.keys()].sort(), ['claude-code', 'claude-project', 'desktop', 'echo-vscode', 'project', 'remote']);
    const project = config.upstreams.get('project');
    assert.deepEqual(project?.type === 'stdio' && project.args, [launchEchoFixture, workspace], "a project file's ${workspaceFolder} is its folder");
    assert.equal(project?.type === 'stdio' && project.cwd, workspace, "a project file's server runs in the project's folder");
    const desktop = config.upstreams.get('desktop');
    assert.equal(desktop?.type === 'stdio' && desktop.cwd, join(home, '.config', 'Claude'), "a user file's server runs in that file's folder");
    assert.match(run.stderr, /skipped 'same-as-vscode' from Cursor \(user\): already in the hub config as 'echo\.vscode'/);
    assert.match(run.stderr, /skipped 'odd' from Cursor \(user\): servers\.odd\.args\[1\]: \$\{config:editor\.tabSize\}: unsupported variable/);
    assert.match(run.stderr, /input 'tok': give it to serve with --input tok=VALUE or MCP_SESSION_HUB_INPUT_TOK/);
  });

  it('writes into an existing hub config keeping its comments, imports nothing twice, and serve runs the result', async function () {
    const hubPath = join(home, 'hub.jsonc');
    writeFileSync(hubPath, '{\n  // my own notes\n  "servers": {}\n}\n');
    runImport(['--config', hubPath, '--write', '--from', 'vscode']);
    const first = readFileSync(hubPath, 'utf8');
    assert.match(first, /\/\/ my own notes/);
    assert.match(first, /"echo\.vscode"/);
    const again = runImport(['--config', hubPath, '--write', '--from', 'vscode']);
    assert.equal(readFileSync(hubPath, 'utf8'), first, 'a second import changed the file');
    assert.match(again.stderr, /skipped 'echo\.vscode' from VS Code \(user\): already in the hub config/);

    const hub = await spawnReady(cliPath, ['serve', '--config', hubPath, '--port', '0', '--json', '--token', testToken, '--admin-token', testAdminToken, '--input', 'tok=secret-2'], { env });
    try {
      const client = await connectClient(hub.url, { virtualServer: 'echo-vscode' });
      const launch = JSON.parse(firstText(await client.callTool({ name: 'echo_vscode__launch', arguments: {} }))) as { argv: string[]; env: Record<string, string> };
      assert.deepEqual(launch.argv, ['--token=secret-2']);
      assert.equal(launch.env.FROM_ENV_FILE, 'user-env', 'the envFile, made absolute on import, was read');
      await client.close();
    } finally {
      await hub.stop();
    }
  });

  it("runs an imported server's relative command and arguments from the folder of the file they came from, wherever the hub runs", async function () {
    const project = join(home, 'elsewhere', 'tools');
    write(join(project, 'server.js'), `require(${JSON.stringify(launchEchoFixture)});\n`);
    write(join(project, 'bin', 'start-server'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} server.js "$@"\n`);
    chmodSync(join(project, 'bin', 'start-server'), 0o755);
    const source = join(project, 'mcp.json');
    write(source, JSON.stringify({ mcpServers: { 'by-arg': { command: process.execPath, args: ['server.js', 'by-arg'] }, 'by-command': { command: './bin/start-server', args: ['by-command'] } } }));
    const hubPath = join(home, 'relative-hub.jsonc');
    runImport(['--config', hubPath, '--write', '--from', source]);

    // The hub runs from another folder (the test's), as it would from a user's shell.
    const hub = await spawnReady(cliPath, ['serve', '--config', hubPath, '--port', '0', '--json', '--token', testToken, '--admin-token', testAdminToken], { env });
    try {
      for (const id of ['by-arg', 'by-command']) {
        const client = await connectClient(hub.url, { virtualServer: id });
        const result = await client.callTool({ name: `${id}__launch`, arguments: {} });
        assert.notEqual(result.isError, true, `${id}: ${firstText(result)}`);
        const launch = JSON.parse(firstText(result)) as { argv: string[]; cwd: string };
        assert.deepEqual(launch.argv, [id]);
        assert.equal(launch.cwd, project, `${id} ran in another folder`);
        await client.close();
      }
    } finally {
      await hub.stop();
    }
  });

  it('refuses --write without --config, and a --from file that does not exist', function () {
    const noConfig = spawnSync(process.execPath, [cliPath, 'import', '--write'], { env, encoding: 'utf8' });
    assert.equal(noConfig.status, 2);
    assert.match(noConfig.stderr, /--write needs --config FILE/);
    const missing = spawnSync(process.execPath, [cliPath, 'import', '--from', join(home, 'nope.json')], { env, encoding: 'utf8' });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /no such file/);
  });
});
