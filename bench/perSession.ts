/**
 * Per-session upstream instances: what a new session's first call costs with and without a warm
 * spare, how long an upstream takes to start through npx and through node directly, and the
 * memory of one instance (its whole process tree). `npm run bench:per-session [-- --quick]`.
 *
 * Upstreams: the test fixture (a small SDK server) and the real @playwright/mcp with Debian's
 * Chromium (skipped when /usr/bin/chromium is missing).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { validateConfig } from '../src/core/config/config';
import { silentLogger } from '../src/core/infra/logger';
import { runHub, type RunningHub } from '../src/http/runHub';
import { waitFor } from '../test/support/hubHarness';
import { descendantsOf } from '../test/support/processes';
import { formatSpread, spread, type Spread } from './spread';
import { createOwnSignalFetch } from '../src/upstream/ownSignalFetch';

const quick = process.argv.includes('--quick');
const rounds = quick ? 3 : 7;
const token = 'bench-token-0123456789';
const adminToken = 'bench-admin-token-9876543210';
const fixture = join(__dirname, '..', 'test', 'fixtures', 'passthroughFixture.js');
const chromium = '/usr/bin/chromium';
const playwrightArgs = ['--browser', 'chromium', '--executable-path', chromium, '--headless', '--isolated', '--output-dir', mkdtempSync(join(tmpdir(), 'bench-playwright-'))];

type Stats = Spread;
const stats = spread;
const fmt = (s: Stats, unit = 'ms') => `${formatSpread(s, 0)} ${unit}`;
const until = (condition: () => boolean, what: string) => waitFor(condition, 60_000, what);

async function startHub(upstream: Record<string, unknown>): Promise<RunningHub> {
  const config = validateConfig({ servers: { up: { ...upstream, perSession: true, maxInstances: 16 } }, virtualServers: { vs: { upstreams: ['up'], naming: 'bare' } } }, 'bench');
  const running = await runHub({ config, token, adminToken, logger: silentLogger, port: 0 });
  await until(() => running.hub.state().upstreams.every((u) => u.state === 'ready'), 'the probe');
  return running;
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  // Each POST with a signal of its own (see benchTransport): no abort listener per call left on the transport's one signal.
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/servers/vs/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } }, fetch: createOwnSignalFetch() }));
  return client;
}

/** A new session's initialize, then its first call (which needs the session's own instance). */
async function firstCalls(upstream: Record<string, unknown>, warm: number, call: { name: string; arguments: Record<string, unknown> }): Promise<{ initialize: Stats; firstCall: Stats }> {
  const hub = await startHub({ ...upstream, warm });
  const initialize: number[] = [];
  const firstCall: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      if (warm > 0) await until(() => hub.hub.state().upstreams[0]?.perSession?.readySpares === warm, 'a ready spare');
      const started = performance.now();
      const client = await connect(hub.gateway.url);
      const initialized = performance.now();
      await client.callTool(call, undefined, { timeout: 120_000 });
      firstCall.push(performance.now() - initialized);
      initialize.push(initialized - started);
      await (client.transport as StreamableHTTPClientTransport).terminateSession();
      await client.close();
    }
  } finally {
    await hub.close();
  }
  return { initialize: stats(initialize), firstCall: stats(firstCall) };
}

/** Proportional set size of a process and everything it started (Linux /proc), in MiB. PSS splits
 * pages shared between a browser's processes among them, so a tree's sum is fair. */
function treePssMiB(root: number): number {
  let kib = 0;
  for (const pid of [root, ...descendantsOf(root)]) {
    try {
      kib += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return kib / 1024;
}

/** Memory of `sessions` instances after each did `call`, per instance. */
async function memoryPerInstance(upstream: Record<string, unknown>, sessions: number, call: (i: number) => { name: string; arguments: Record<string, unknown> }): Promise<{ perInstance: Stats; processes: number }> {
  const hub = await startHub({ ...upstream, warm: 0 });
  const clients: Client[] = [];
  try {
    for (let i = 0; i < sessions; i++) {
      const client = await connect(hub.gateway.url);
      clients.push(client);
      await client.callTool(call(i), undefined, { timeout: 120_000 });
    }
    const pids = hub.hub.state().sessions.flatMap((s) => s.instances.map((i) => i.pid ?? 0));
    const processes = pids.length;
    return { perInstance: stats(pids.map(treePssMiB)), processes };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await hub.close();
  }
}

/** Time from spawn to a completed initialize, for an upstream started as given. */
async function startTime(command: string, args: string[]): Promise<Stats> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const client = new Client({ name: 'bench', version: '1.0.0' });
    const started = performance.now();
    await client.connect(new StdioClientTransport({ command, args, stderr: 'ignore' }));
    times.push(performance.now() - started);
    await client.close();
  }
  return stats(times);
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  const fixtureUpstream = { command: process.execPath, args: [fixture, '--stdio'] };
  for (const warm of [0, 1]) {
    const { initialize, firstCall } = await firstCalls(fixtureUpstream, warm, { name: 'recall', arguments: {} });
    rows.push([`fixture, warm ${warm}`, fmt(initialize), fmt(firstCall)]);
  }
  const pages = createServer((_req, res) => res.end('<!doctype html><title>bench</title><h1>bench page</h1>'));
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  const pageUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}/`;
  const hasChromium = existsSync(chromium);
  const playwright = { command: 'npx', args: ['@playwright/mcp', ...playwrightArgs] };
  if (hasChromium) {
    for (const warm of [0, 1]) {
      const { initialize, firstCall } = await firstCalls(playwright, warm, { name: 'browser_navigate', arguments: { url: pageUrl } });
      rows.push([`playwright (navigate), warm ${warm}`, fmt(initialize), fmt(firstCall)]);
    }
  }
  console.log(`\nFirst call of a new session (median of ${rounds}, min–max)\n`);
  console.log('| upstream | initialize | first tools/call |\n| --- | --- | --- |');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);

  const cli = join(dirname(require.resolve('@playwright/mcp/package.json')), 'cli.js');
  console.log(`\nUpstream start, spawn to initialized (median of ${rounds}, min–max)\n`);
  console.log('| how | time |\n| --- | --- |');
  console.log(`| npx @playwright/mcp | ${fmt(await startTime('npx', ['@playwright/mcp', ...playwrightArgs]))} |`);
  console.log(`| node …/@playwright/mcp/cli.js (what the hub runs) | ${fmt(await startTime('node', [cli, ...playwrightArgs]))} |`);
  console.log(`| fixture (node) | ${fmt(await startTime(process.execPath, [fixture, '--stdio']))} |`);

  const instances = quick ? 2 : 4;
  console.log(`\nMemory per instance, whole process tree PSS (${instances} sessions, median, min–max)\n`);
  console.log('| upstream | per instance |\n| --- | --- |');
  const fixtureMemory = await memoryPerInstance(fixtureUpstream, instances, () => ({ name: 'recall', arguments: {} }));
  console.log(`| fixture | ${fmt(fixtureMemory.perInstance, 'MiB')} |`);
  if (hasChromium) {
    const pwMemory = await memoryPerInstance(playwright, instances, () => ({ name: 'browser_navigate', arguments: { url: pageUrl } }));
    console.log(`| playwright with one page open | ${fmt(pwMemory.perInstance, 'MiB')} |`);
  } else {
    console.log(`| playwright | skipped: ${chromium} missing |`);
  }
  pages.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
