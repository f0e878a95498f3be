import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import type { HubState } from '../../src/client/adminClient';
import { chromiumPath, ensureChromium } from '../support/chromium';
import { findRepoRoot } from '../support/modernNode';
import { processState } from '../support/processes';
import { until } from '../support/timing';
import { freePort } from '../support/net';
import { applyEdits, modify } from 'jsonc-parser';
import { startOAuthFixture } from '../fixtures/oauthFixture';
import { ensureCodeServer, installVsix, prepareProfile, startCodeServer, type RunningCodeServer } from './codeServer';

const repo = findRepoRoot();
const shotsDir = join(repo, 'test-results', 'e2e');
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * The extension end to end in code-server, driven through Chromium: the in-host suite (VS Code's
 * own MCP client, lm.invokeTool), then the tree, Kill Session from the palette and the dashboard.
 */
describe('VS Code end to end (code-server + Chromium)', function () {
  this.timeout(900_000);
  let codeServer: RunningCodeServer | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  /** The hub in the first window: its URL, its client token (MCP) and its admin token (`/admin/*`). */
  let hub: { url: string; token: string; adminToken: string };
  let exitCode: unknown;
  let summary = '';
  let handoffDone: string | undefined;
  let handoffPath: string | undefined;
  /** The folder the real filesystem server serves, with a file nobody in the hub created. */
  let files: string;
  const runDir = mkdtempSync(join(tmpdir(), 'hub-e2e-'));
  /** An id the first window's session created: after the hub moves to the second window, it must still be refused to others. */
  let firstWindowOwned: string | undefined;

  const adminState = async (): Promise<HubState> =>
    (await (await fetch(`${hub.url}/admin/state`, { headers: { authorization: `Bearer ${hub.adminToken}` } })).json()) as HubState;
  const shot = async (name: string) => {
    mkdirSync(shotsDir, { recursive: true });
    await page.screenshot({ path: join(shotsDir, `${name}.png`) });
  };
  /** The tools VS Code's own MCP client sees now, asked of the in-host suite (it starts the servers and awaits live tools). */
  const vscodeTools = async (): Promise<string[]> => {
    const out = `${handoffPath}.lmtools.out`;
    if (existsSync(out)) unlinkSync(out);
    writeFileSync(`${handoffPath}.lmtools`, '');
    await until(() => (existsSync(out) ? true : undefined), "VS Code's tool list", 60_000);
    return JSON.parse(readFileSync(out, 'utf8')) as string[];
  };
  const palette = async (command: string, pick?: string) => {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(`>${command}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: command }).first();
    await row.waitFor({ timeout: 15_000 });
    if (process.env.HUB_E2E_DEBUG) console.log('        palette rows:', await page.locator('.quick-input-list .monaco-list-row').allTextContents());
    await row.click();
    if (pick) {
      await page
        .locator('.quick-input-list .monaco-list-row', { hasText: pick })
        .first()
        .waitFor({ timeout: 15_000 })
        .catch(async (error: unknown) => {
          await shot('palette-failure');
          throw error;
        });
      await page.locator('.quick-input-list .monaco-list-row', { hasText: pick }).first().click();
    }
  };

  before(async function () {
    const hasChromium = ensureChromium();
    if (!hasChromium.ok) {
      console.log(`      skipped: ${hasChromium.why}`);
      this.skip();
    }
    const install = await ensureCodeServer();
    if ('why' in install) {
      console.log(`      skipped: ${install.why}`);
      this.skip();
    }
    // The packaged extension, as users get it.
    const vsix = join(runDir, 'mcp-session-hub.vsix');
    execFileSync(process.execPath, [join(repo, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '-o', vsix], { cwd: repo, stdio: 'ignore' });
    installVsix(install, runDir, vsix);
    const installed = join(runDir, 'extensions', 'mcp-session-hub.mcp-session-hub-0.1.0');
    assert.ok(existsSync(join(installed, 'dist', 'extension.js')), 'the VSIX installed');
    // The chat probe: a chat participant that calls hub tools as Copilot's agent does.
    const probeDir = join(runDir, 'chat-probe');
    mkdirSync(probeDir, { recursive: true });
    copyFileSync(join(repo, 'test', 'vscode', 'chatProbe', 'package.json'), join(probeDir, 'package.json'));
    copyFileSync(join(repo, 'out', 'test', 'vscode', 'chatProbe', 'extension.js'), join(probeDir, 'extension.js'));
    const probeVsix = join(runDir, 'chat-probe.vsix');
    execFileSync(process.execPath, [join(repo, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '-o', probeVsix], { cwd: probeDir, stdio: 'ignore' });
    installVsix(install, runDir, probeVsix);

    mkdirSync(join(runDir, 'home'), { recursive: true });
    const profile = await prepareProfile(runDir);
    const { workspace } = profile;
    files = profile.files;
    const handoff = join(runDir, 'handoff.json');
    codeServer = await startCodeServer(install, {
      runDir,
      port: await freePort(),
      folder: workspace,
      // Its own home: Import Servers reads Claude's and Cursor's files there.
      env: { MCP_HUB_E2E_HANDOFF: handoff, HOME: join(runDir, 'home') },
      extraArgs: ['--vscode-option', 'enable-smoke-test-driver'],
    });
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
    // One browser profile for every window, as one user has: VS Code's secret storage (the hub's
    // client and admin tokens) lives in it, so windows share it.
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();

    // 1. Mocha inside the extension host (the smoke-test driver runs extensionTestsPath).
    const authority = new URL(codeServer.url).host;
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://${authority}${installed}`],
      ['extensionTestsPath', `vscode-remote://${authority}${join(repo, 'out', 'test', 'vscode', 'suite', 'index.js')}`],
    ];
    await page.exposeFunction('codeAutomationExit', (code: unknown) => {
      exitCode = code;
    });
    page.on('console', (message) => {
      const match = /(\d+) passed, (\d+) failed/.exec(message.text());
      if (match) summary = match[0];
      if (/✔|passed,|failed|\berror\b/i.test(message.text()) && !/Creating a socket|Resolved connection token/.test(message.text())) console.log(`        [extension host] ${message.text().replace(/%c/g, '').slice(0, 300)}`);
    });
    await page.goto(`${codeServer.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    // The in-host suite hands over the hub once its own tests passed, and keeps it up for the UI part.
    let debugShots = 0;
    const debugTimer = process.env.HUB_E2E_DEBUG ? setInterval(() => void shot(`debug-${debugShots++}`).catch(() => undefined), 8_000) : undefined;
    await until(() => (existsSync(handoff) || exitCode !== undefined ? true : undefined), 'the in-host suite to hand over the hub', 240_000);
    clearInterval(debugTimer);
    if (!existsSync(handoff)) await shot('in-host-failure');
    assert.ok(existsSync(handoff), `the in-host suite ended before handing over (${summary})`);
    hub = JSON.parse(readFileSync(handoff, 'utf8')) as typeof hub;
    handoffPath = handoff;
    handoffDone = `${handoff}.done`;
  });

  after(async () => {
    if (handoffDone && !existsSync(handoffDone)) writeFileSync(handoffDone, 'after');
    await browser?.close();
    await codeServer?.stop();
  });

  it('shows the session and its two agent chats in the tree, and Kill Session from the palette ends them with their instances', async function () {
    const state = await adminState();
    const session = state.sessions.find((s) => s.key?.startsWith('vscode:'));
    assert.ok(session, 'the workspace session of VS Code');
    const instancePid = session.instances[0]?.pid;
    assert.ok(instancePid, 'its per-session instance');

    await page.locator('.activitybar [aria-label^="MCP Session Hub"]').first().click();
    const sessionRow = page.locator('.monaco-list-row', { hasText: /code-server|Visual Studio Code/ }).first();
    await sessionRow.waitFor({ timeout: 30_000 });
    // Open the session: its connections, its per-session instance and the id it owns. A row is
    // clicked only while collapsed (a click on an open row would close it).
    const expand = async (row: typeof sessionRow) => {
      if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
    };
    await expand(sessionRow);
    await page.locator('.monaco-list-row', { hasText: `pid ${instancePid}` }).first().waitFor({ timeout: 15_000 });
    await expand(page.locator('.monaco-list-row', { hasText: 'Owned ids' }).first());
    const ownedId = session.ownedIds[0]?.id;
    assert.ok(ownedId, 'the id the session created');
    await page.locator('.monaco-list-row', { hasText: ownedId }).first().waitFor({ timeout: 15_000 });
    await shot('tree');

    // The in-host suite's two agent chats, under the window's session, each with its own instance.
    const chats = state.sessions.filter((s) => s.chat?.parent === session.id);
    assert.equal(chats.length, 2, 'two chat sessions under the workspace session');
    const chatPids = chats.map((chat) => chat.instances[0]?.pid);
    for (const [index, chat] of chats.entries()) {
      const chatRow = page.locator('.monaco-list-row', { hasText: `chat ${chat.chat?.conversationId.slice(0, 12)}` }).first();
      await chatRow.waitFor({ timeout: 15_000 });
      await expand(chatRow);
      await page.locator('.monaco-list-row', { hasText: `pid ${chatPids[index]}` }).first().waitFor({ timeout: 15_000 });
    }
    await shot('tree-chats');

    await palette('MCP Session Hub: Kill Session', 'code-server');
    await until(async () => ((await adminState()).sessions.some((s) => s.id === session.id) ? undefined : true), 'the session gone from /admin/state', 15_000);
    await until(() => (processState(instancePid) === 'gone' ? true : undefined), 'its instance process gone', 15_000);
    // Its chats end with it, and their instances too.
    assert.deepEqual((await adminState()).sessions.filter((s) => s.chat?.parent === session.id), []);
    for (const pid of chatPids) await until(() => (pid && processState(pid) === 'gone' ? true : undefined), `chat instance ${pid} gone`, 15_000);
    // VS Code's client may reconnect at once as a new session: what must go is this session's rows.
    const instanceRow = page.locator('.monaco-list-row', { hasText: `pid ${instancePid}` });
    await until(async () => ((await instanceRow.count()) === 0 ? true : undefined), 'the session and its instance gone from the tree', 15_000);
    firstWindowOwned = ownedId;
  });

  it("shows safe mode's approval request in the chat, and Allow once lets that call write the file", async function () {
    assert.ok(handoffPath);
    const target = join(files, 'shared.txt');
    const content = 'approved in VS Code';
    writeFileSync(`${handoffPath}.chat`, `mcp_files_write_file ${JSON.stringify({ path: target, content })}`);
    const chat = page.locator('.interactive-session').first();
    await chat.getByText('Safe mode', { exact: false }).first().waitFor({ timeout: 60_000 });
    await chat.getByText('Allow once').first().waitFor({ timeout: 15_000 });
    await shot('elicitation');
    assert.equal(readFileSync(target, 'utf8'), 'written before the hub\n', 'nothing written before the answer');
    // A single choice is submitted by picking it.
    await chat.getByText('Allow once').first().click();
    await until(() => (readFileSync(target, 'utf8') === content ? true : undefined), 'the approved call to write the file', 30_000);
    await chat.getByText(/Successfully wrote to/).first().waitFor({ timeout: 30_000 });
    await shot('elicitation-allowed');
    // The decision is on the chat session's record, bound to the call's digest.
    const chats = (await adminState()).sessions.filter((s) => s.chat);
    const decision = chats.flatMap((s) => s.safeModeDecisions).find((d) => d.tool === 'write_file');
    assert.equal(decision?.outcome, 'approved once');
    assert.match(decision?.identifiers[0] ?? '', /shared\.txt/);
  });

  it("imports a server from VS Code's mcp.json, asks for its input, and the tree's checkbox takes a tool out", async function () {
    // VS Code's own user mcp.json, written only now so that VS Code's MCP client (which reads it
    // too) was never asked to start it earlier in this run.
    const userMcpJson = join(runDir, 'user-data', 'User', 'mcp.json');
    const launchEcho = join(repo, 'out', 'test', 'fixtures', 'launchEchoFixture.js');
    writeFileSync(
      userMcpJson,
      JSON.stringify({
        inputs: [{ type: 'promptString', id: 'echo-token', description: 'Token for the echo server', password: true }],
        servers: { 'my.echo': { type: 'stdio', command: process.execPath, args: [launchEcho, '${workspaceFolder}'], env: { ECHO_TOKEN: '${input:echo-token}' } } },
      }),
    );
    await palette('MCP Session Hub: Import Servers');
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'my.echo' }).first();
    await row.waitFor({ timeout: 15_000 });
    await shot('import');
    await row.click(); // a row of a many-pick toggles its checkbox
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'One virtual server per server' }).first().click();
    // The input the server needs, asked once, hidden as a password.
    const input = page.locator('.quick-input-widget input.input');
    await page.locator('.quick-input-widget', { hasText: 'Token for the echo server' }).waitFor({ timeout: 30_000 });
    assert.equal(await input.getAttribute('type'), 'password');
    await input.fill('s3cret-from-the-prompt');
    await page.keyboard.press('Enter');

    const state = await until(async () => {
      const current = await adminState();
      const upstream = current.upstreams.find((u) => u.id === 'my.echo');
      return upstream?.state === 'ready' ? current : undefined;
    }, 'the imported upstream ready', 60_000);
    const virtualServer = state.virtualServers.find((vs) => vs.upstreams.includes('my.echo'));
    assert.ok(virtualServer, 'a virtual server for the imported server');
    const client = new Client({ name: 'import-probe', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${hub.url}/servers/${virtualServer.id}/mcp`), { requestInit: { headers: { authorization: `Bearer ${hub.token}` } } }));
    try {
      // Its tools keep the name the import gave them (a prefix made valid from 'my.echo').
      const launchTool = (await client.listTools()).tools.find((tool) => tool.name.endsWith('launch'));
      assert.ok(launchTool, 'the imported server lists its tool');
      const launch = JSON.parse(((await client.callTool({ name: launchTool.name, arguments: {} })).content as { text: string }[])[0]?.text ?? '{}') as { argv: string[]; env: Record<string, string> };
      assert.equal(launch.env.ECHO_TOKEN, 's3cret-from-the-prompt', 'the input reached the child');
      assert.equal(launch.argv[0], join(runDir, 'workspace'), '${workspaceFolder} is the window\'s folder');
    } finally {
      await client.close().catch(() => undefined);
    }

    // VS Code's own MCP client finds the imported tool through the hub. (VS Code reads the user
    // mcp.json too and would start that server itself, asking for its input: the file goes first.)
    unlinkSync(userMcpJson);
    const importedTool = await until(async () => (await vscodeTools()).find((name) => name.startsWith('mcp_my') && name.endsWith('launch')), 'VS Code to list the imported tool', 90_000);
    console.log(`        VS Code lists ${importedTool}`);

    // The virtual server's tools as checkboxes: unchecking one writes an exclude, and it leaves the endpoint.
    const vsRow = page.locator('.monaco-list-row', { hasText: virtualServer.title || virtualServer.id }).first();
    await vsRow.waitFor({ timeout: 15_000 });
    // Rows move while the hub's state streams in: click until the row is open.
    const open = (row: typeof vsRow, what: string) =>
      until(async () => {
        if ((await row.getAttribute('aria-expanded')) === 'true') return true;
        await row.click();
        return undefined;
      }, what, 15_000);
    await open(vsRow, 'the virtual server open in the tree');
    // Only this virtual server is open, so its Tools group is the one Tools row shown.
    const toolsRow = page.locator('.monaco-list-row', { hasText: /^Tools/ }).first();
    await toolsRow.waitFor({ timeout: 15_000 });
    await open(toolsRow, 'its tools open in the tree');
    const toolRow = page.locator('.monaco-list-row', { hasText: 'launch' }).first();
    await toolRow.waitFor({ timeout: 15_000 }).catch(async (error: unknown) => {
      await shot('tree-tools-failure');
      throw error;
    });
    await shot('tree-tools');
    await toolRow.locator('.monaco-checkbox, .custom-view-tree-node-item-checkbox, input[type=checkbox]').first().click();
    await until(async () => ((await adminState()).virtualServers.find((vs) => vs.id === virtualServer.id)?.tools.some((tool) => tool.endsWith('launch')) ? undefined : true), 'the tool gone from the virtual server', 30_000);
    assert.match(readFileSync(join(runDir, 'hub.jsonc'), 'utf8'), /exclude/);
    await until(async () => ((await vscodeTools()).includes(importedTool) ? undefined : true), `VS Code to drop ${importedTool}`, 90_000);
    await shot('tree-tools-unchecked');
  });

  it('renders sessions in the dashboard, and its kill button ends one', async function () {
    const client = new Client({ name: 'dashboard-probe', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${hub.url}/servers/editor/mcp`), { requestInit: { headers: { authorization: `Bearer ${hub.token}` } } }));
    try {
      await client.callTool({ name: 'list_items', arguments: {} });
      await palette('MCP Session Hub: Open Dashboard');
      const frame = page.frameLocator('iframe.webview').frameLocator('iframe#active-frame');
      const row = frame.locator('tr', { hasText: 'dashboard-probe' });
      await row.waitFor({ timeout: 30_000 });
      await shot('dashboard');
      const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId;
      await row.locator('button.kill-session').click();
      await until(async () => ((await adminState()).sessions.some((s) => s.id === sessionId) ? undefined : true), 'the session ended by the dashboard', 15_000);
      await until(async () => ((await row.count()) === 0 ? true : undefined), 'the row gone', 15_000);
    } finally {
      await client.close().catch(() => undefined);
    }
  });

  it("shows an OAuth-protected upstream as needing sign-in, signs in from the tree, and VS Code's MCP client lists its tool", async function () {
    assert.ok(handoffPath);
    const oauth = await startOAuthFixture();
    try {
      // Added to the hub's config as a user would: the hub applies the file when it changes.
      const configFile = join(runDir, 'hub.jsonc');
      let text = readFileSync(configFile, 'utf8');
      text = applyEdits(text, modify(text, ['servers', 'linear'], { type: 'http', url: oauth.mcpUrl }, { formattingOptions: { insertSpaces: true, tabSize: 2 } }));
      text = applyEdits(text, modify(text, ['virtualServers', 'linear'], { title: 'Linear', upstreams: ['linear'], naming: 'bare' }, { formattingOptions: { insertSpaces: true, tabSize: 2 } }));
      writeFileSync(configFile, text);
      await until(async () => ((await adminState()).upstreams.find((u) => u.id === 'linear')?.state === 'needs-auth' ? true : undefined), "the upstream to need sign-in", 60_000);
      const row = page.locator('.monaco-list-row', { hasText: 'needs sign-in' }).first();
      await row.waitFor({ timeout: 30_000 });
      await shot('needs-sign-in');
      // Sign in from the tree: VS Code opens the authorization page; the test browser follows it,
      // and the fixture's authorization server answers at once with the redirect to the hub.
      const opened = context.waitForEvent('page', { timeout: 30_000 });
      await row.hover();
      await row.locator('.actions .action-label[aria-label="Sign In"]').first().click();
      const authorization = await opened;
      await authorization.waitForLoadState('load', { timeout: 30_000 }).catch(() => undefined);
      await until(async () => ((await adminState()).upstreams.find((u) => u.id === 'linear')?.state === 'ready' ? true : undefined), 'the upstream ready after sign-in', 60_000);
      await authorization.close().catch(() => undefined);
      assert.equal(oauth.stats.authorizations, 1);
      const tool = await until(async () => (await vscodeTools()).find((name) => name.toLowerCase().includes('linear') && name.endsWith('whoami')), "VS Code's MCP client to list the signed-in upstream's tool", 90_000);
      console.log(`        VS Code lists ${tool}`);
      await page.locator('.monaco-list-row', { hasText: 'linear' }).first().waitFor({ timeout: 15_000 });
      await shot('signed-in');
    } finally {
      await oauth.close();
    }
  });

  it("shows a chat's allowed, refused and approved calls in the dashboard's Activity view, narrows it to the chat, opens a record's details, and lists them under the chat in the tree", async function () {
    assert.ok(handoffPath && firstWindowOwned);
    type CallRecord = { seq: number; kind: string; tool?: string; outcome: string; chat?: string };
    const calls = async (after: number): Promise<CallRecord[]> =>
      ((await (await fetch(`${hub.url}/admin/activity?kind=call&after=${after}`, { headers: { authorization: `Bearer ${hub.adminToken}` } })).json()) as { records: CallRecord[] }).records;
    let lastSeq = (await calls(0)).at(-1)?.seq ?? 0;
    /** Sends a prompt to the chat probe and waits for the hub's record of the call it makes. */
    const chatCall = async (tool: string, input: unknown, answer?: () => Promise<void>): Promise<CallRecord> => {
      writeFileSync(`${handoffPath}.chat`, `${tool} ${JSON.stringify(input)}`);
      await answer?.();
      const name = tool.replace(/^mcp_[a-z]+_/, '');
      const record = await until(async () => (await calls(lastSeq)).find((r) => r.tool === name), `the hub's record of ${tool}`, 60_000);
      lastSeq = record.seq;
      return record;
    };
    const chat = page.locator('.interactive-session').first();
    const target = join(files, 'activity.txt');
    writeFileSync(target, 'written before the hub\n');
    const allowed = await chatCall('mcp_files_read_text_file', { path: join(files, 'shared.txt') });
    // What the first window's session created belongs to a session that ended: refused to every other.
    const refused = await chatCall('mcp_editor_delete_item', { id: firstWindowOwned });
    const approved = await chatCall('mcp_files_write_file', { path: target, content: 'approved for the activity view' }, async () => {
      // The hub records the question before the chat shows it; the chat's list renders only what is in view, so the newest is the last.
      await until(async () => {
        const records = ((await (await fetch(`${hub.url}/admin/activity?kind=approval&outcome=asked&after=${lastSeq}`, { headers: { authorization: `Bearer ${hub.adminToken}` } })).json()) as { records: unknown[] }).records;
        return records.length > 0 ? true : undefined;
      }, 'the approval asked of the chat', 60_000).catch(async (error: unknown) => {
        await shot('activity-approval-failure');
        const since = (await (await fetch(`${hub.url}/admin/activity?after=${lastSeq}`, { headers: { authorization: `Bearer ${hub.adminToken}` } })).json()) as { records: unknown[] };
        console.log(`        records since: ${JSON.stringify(since.records).slice(0, 3000)}`);
        throw error;
      });
      const allow = chat.getByText('Allow once').last();
      await allow.waitFor({ state: 'visible', timeout: 30_000 }).catch(async (error: unknown) => {
        await shot('activity-approval-failure');
        throw error;
      });
      await allow.click();
    });
    assert.deepEqual([allowed.outcome, refused.outcome, approved.outcome], ['ok', 'refused', 'asked→once']);
    const conversation = approved.chat;
    assert.ok(conversation && refused.chat === conversation && allowed.chat === conversation, 'the three calls came from one chat');
    // As the tree and the timeline name a chat.
    const chatName = `chat ${conversation.slice(0, 12)}${conversation.length > 12 ? '…' : ''}`;

    // The tree: the chat's last calls under it. Focused from the palette: a click on the activity
    // bar's icon toggles, so it hides the side bar when the view already shows.
    await palette('Focus on Hub View');
    const open = (row: Locator, what: string) =>
      until(async () => {
        if ((await row.getAttribute('aria-expanded')) === 'true') return true;
        await row.click();
        return undefined;
      }, what, 15_000);
    // The Sessions group is not opened here: it stays open on its own, also after the earlier
    // tests ended every session (it used to close itself then).
    const sessionRow = page.locator('.monaco-list-row', { hasText: /code-server|Visual Studio Code/ }).first();
    await sessionRow.waitFor({ timeout: 30_000 }).catch(async (error: unknown) => {
      await shot('activity-tree-failure');
      console.log(`        tree rows: ${JSON.stringify(await page.locator('.monaco-list-row').allTextContents())}`);
      throw error;
    });
    await open(sessionRow, 'the workspace session open in the tree');
    const chatRow = page.locator('.monaco-list-row', { hasText: chatName }).first();
    await chatRow.waitFor({ timeout: 15_000 });
    await open(chatRow, 'the chat open in the tree');
    // The chat's own Recent calls group: the first one listed after the chat's row.
    const chatIndex = Number(await chatRow.getAttribute('data-index'));
    const recentRows = await page.locator('.monaco-list-row', { hasText: 'Recent calls' }).all();
    let recent: Locator | undefined;
    for (const row of recentRows) if (Number(await row.getAttribute('data-index')) > chatIndex && !recent) recent = row;
    assert.ok(recent, "the chat's Recent calls");
    await open(recent, "the chat's recent calls open");
    for (const label of ['ok · read_text_file', 'refused · delete_item', 'asked→once · write_file']) await page.locator('.monaco-list-row', { hasText: label }).first().waitFor({ timeout: 15_000 });
    await shot('tree-recent-calls');

    // The dashboard's Activity view, with the editor given the whole window.
    await palette('MCP Session Hub: Open Dashboard');
    const frame = page.frameLocator('iframe.webview').frameLocator('iframe#active-frame');
    // The page takes focus once loaded, which would close a quick input opened before.
    await frame.locator('#tab-activity').waitFor({ timeout: 30_000 });
    // Keys typed while the webview has focus go to the page: the palette opens from the title bar's command centre instead.
    const quickInput = page.locator('.quick-input-widget input.input');
    const maximize = 'Maximize Editor Group and Hide Side Bars';
    await until(
      () =>
        (async () => {
          if (!(await quickInput.isVisible())) await page.locator('.command-center').first().click();
          await quickInput.fill(`>${maximize}`, { timeout: 2_000 });
          await page.locator('.quick-input-list .monaco-list-row', { hasText: maximize }).first().click({ timeout: 2_000 });
          return true;
        })().catch(() => undefined),
      'the editor maximized from the command centre',
      30_000,
    );
    await frame.locator('#tab-activity').click();
    const rowOf = (tool: string) => frame.locator('#activity-table tr.record', { hasText: tool }).first();
    const cellsOf = async (tool: string) => (await rowOf(tool).locator('td').allTextContents()).map((text) => text.trim());
    await rowOf('delete_item').waitFor({ timeout: 30_000 });
    const [, who, what, outcome] = await cellsOf('delete_item');
    assert.deepEqual([who, outcome], [chatName, 'refused']);
    assert.match(what, /delete_item$/);
    assert.deepEqual((await cellsOf('write_file')).slice(1, 4), [chatName, 'files/write_file', 'asked→once']);
    assert.deepEqual((await cellsOf('read_text_file')).slice(1, 4), [chatName, 'files/read_text_file', 'ok']);
    // The outcome's colour: refused in the error colour, unlike ok.
    // Runs in the page (the tests' own types have no DOM).
    type Window = { getComputedStyle(element: unknown): { color: string } };
    const colour = (tool: string) => rowOf(tool).locator('td.outcome').evaluate((cell) => (globalThis as unknown as Window).getComputedStyle(cell).color);
    assert.notEqual(await colour('delete_item'), await colour('read_text_file'));
    await shot('activity');

    // Narrowed to the chat: only its calls remain (the dashboard probe's list_items goes).
    await frame.locator('#filter-chat').selectOption(conversation);
    await until(async () => {
      const whos = await frame.locator('#activity-table tr.record td:nth-child(2)').allTextContents();
      return whos.length > 0 && whos.every((text) => text === chatName) ? true : undefined;
    }, 'the timeline narrowed to the chat', 15_000);
    assert.equal(await frame.locator('#activity-table tr.record', { hasText: 'list_items' }).count(), 0);
    assert.match((await frame.locator('#activity-summary').textContent()) ?? '', /matching/);
    await shot('activity-filtered');

    // A click opens the record: why safe mode refused, and what it judged.
    await rowOf('delete_item').click();
    const details = frame.locator('#activity-details');
    await details.getByText('Identifiers judged').waitFor({ timeout: 15_000 });
    const detailsText = (await details.textContent()) ?? '';
    assert.match(detailsText, /Outcome\s*refused/);
    assert.match(detailsText, new RegExp(firstWindowOwned));
    assert.match(detailsText, /Safe mode\s*refused/);
    assert.match(detailsText, /another session owns it|belongs to a session that ended/);
    assert.match(detailsText, /Call digest\s*sha256:[0-9a-f]{64}/);
    assert.match(detailsText, new RegExp(`Chat\\s*${conversation}`));
    await shot('activity-details');
    await frame.locator('#tab-overview').click();
  });

  it('passes the in-host suite; a second window attaches to the hub and takes it over when the first closes', async function () {
    assert.ok(handoffDone && codeServer);
    const before = await adminState();
    // A second window: its extension host finds the hub on the port and attaches to it.
    const second = await context.newPage();
    const secondFolder = join(runDir, 'second');
    mkdirSync(secondFolder, { recursive: true });
    await second.goto(`${codeServer.url}/?folder=${encodeURIComponent(secondFolder)}`);
    const hubLogs = () => {
      const logs = join(runDir, 'user-data', 'logs');
      return execFileSync('sh', ['-c', `cat "${logs}"/*/exthost*/mcp-session-hub.mcp-session-hub/*.log 2>/dev/null || true`], { encoding: 'utf8' });
    };
    await until(() => (/attached to the hub on/.test(hubLogs()) ? true : undefined), 'the second window to attach', 60_000);

    // The first window's suite ends, its extension host and the hub in it go; the second takes over.
    writeFileSync(handoffDone, 'done');
    await until(() => (exitCode !== undefined ? true : undefined), 'the in-host suite to finish', 60_000);
    console.log(`      in the extension host: ${summary || 'no summary'}`);
    assert.equal(exitCode, 0, `the in-host suite failed (${summary})`);
    await page.close();
    const after = await until(async () => {
      try {
        const state = await adminState();
        return state.hub.startedAt > before.hub.startedAt ? state : undefined;
      } catch {
        return undefined; // between the two hubs
      }
    }, 'a new hub on the same port', 60_000);
    assert.equal(after.url, hub.url);
    // The hub answers as soon as it listens; the window logs that it hosts it once its start returns.
    await until(() => (/lost the hub[\s\S]*hosting the hub on/.test(hubLogs()) ? true : undefined), 'the second window to log that it hosts the hub', 60_000);
    page = second;
    await page.locator('.activitybar [aria-label^="MCP Session Hub"]').first().click();
    await page.locator('.monaco-list-row', { hasText: 'Virtual Servers' }).first().waitFor({ timeout: 30_000 });

    // The new hub read the ledger the old one kept in the extension's global storage: what the
    // first window's sessions created stays theirs, refused to every other session, never asked.
    assert.ok(firstWindowOwned);
    assert.match(after.ownership.store, /globalStorage.*ownership\.journal$/);
    assert.ok(after.tombstones.some((t) => t.owned.some((o) => o.id === firstWindowOwned)), 'kept across the hub moving to another window');
    const ended = page.locator('.monaco-list-row', { hasText: "Ended sessions' things" }).first();
    await ended.waitFor({ timeout: 30_000 });
    await ended.click();
    const tombstone = after.tombstones.find((t) => t.owned.some((o) => o.id === firstWindowOwned));
    await page.locator('.monaco-list-row', { hasText: tombstone?.session ?? '' }).first().click();
    await page.locator('.monaco-list-row', { hasText: firstWindowOwned }).first().waitFor({ timeout: 15_000 });
    await shot('tree-tombstones');
    const refusedToOthers = async (name: string) => {
      // A new hub answers while its upstreams still start: the demo's tools are there once it is ready.
      await until(async () => ((await adminState()).upstreams.find((u) => u.id === 'demo')?.state === 'ready' ? true : undefined), 'the demo upstream ready in the new hub', 60_000);
      const other = new Client({ name, version: '1.0.0' });
      await other.connect(new StreamableHTTPClientTransport(new URL(`${hub.url}/servers/editor/mcp`), { requestInit: { headers: { authorization: `Bearer ${hub.token}` } } }));
      try {
        const refused = await other.callTool({ name: 'delete_item', arguments: { id: firstWindowOwned } });
        assert.equal(refused.isError, true);
        assert.match(JSON.stringify(refused.content), /belongs to a session that ended at/);
      } finally {
        await other.close().catch(() => undefined);
      }
    };
    await refusedToOthers('after-takeover');

    // Reloading the window that hosts the hub restarts it (workbench.action.reloadWindow): the
    // ledger comes back once more.
    await palette('Developer: Reload Window');
    const reloaded = await until(async () => {
      try {
        const state = await adminState();
        return state.hub.startedAt > after.hub.startedAt ? state : undefined;
      } catch {
        return undefined; // while the window's extension host restarts
      }
    }, 'the hub restarted by the reload', 120_000);
    assert.ok(reloaded.tombstones.some((t) => t.owned.some((o) => o.id === firstWindowOwned)), 'kept across a window reload');
    await refusedToOthers('after-reload');
  });
});
