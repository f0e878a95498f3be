import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { validateConfig, type ConfigContext } from '../../src/core/config/config';
import { createLogger, type Logger } from '../../src/core/infra/logger';
import { runHub, type RunningHub } from '../../src/http/runHub';

/** The client token: what MCP clients send on /mcp, /sse, /messages and /servers/…. */
export const testToken = 'test-token-0123456789';
/** The admin token: what /admin/* takes, and nothing else. */
export const testAdminToken = 'test-admin-token-9876543210';
/** Headers for an admin API request (rawRequest sends the client token unless told otherwise). */
export const adminAuth = { authorization: `Bearer ${testAdminToken}` };
export const fixturesDir = join(__dirname, '..', 'fixtures');
export const scopeFixture = join(fixturesDir, 'scopeFixture.js');
export const passthroughFixture = join(fixturesDir, 'passthroughFixture.js');
export const demoServer = join(__dirname, '..', '..', 'src', 'demo', 'demoServer.js');

export type TransportName = 'streamable-http' | 'sse';
export const transports: TransportName[] = ['streamable-http', 'sse'];

/** A logger that keeps lines for assertions and prints them only when HUB_TEST_LOG is set. */
export function testLogger(lines: string[] = []): Logger {
  return createLogger((level, line) => {
    lines.push(`${level} ${line}`);
    if (process.env.HUB_TEST_LOG) process.stderr.write(`${level} ${line}\n`);
  }, 'debug');
}

export function tempDir(prefix = 'hub-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function fixtureUpstream(requestLog: string, env: Record<string, string> = {}) {
  return { type: 'stdio', command: process.execPath, args: [scopeFixture], env: { FIXTURE_REQUEST_LOG: requestLog, ...env } };
}

/** The demo upstream; with a log file, it records every tools/call it receives there. */
export function demoUpstream(requestLog?: string, extra: Record<string, unknown> = {}) {
  return { type: 'stdio', command: process.execPath, args: [demoServer], ...(requestLog ? { env: { DEMO_REQUEST_LOG: requestLog } } : {}), ...extra };
}

export type TestHub = RunningHub & { url: string; logLines: string[] };

/**
 * Starts a real hub on a free loopback port and waits until every upstream is ready (with
 * `waitForReady: false`, only until each has had its first try, for upstreams that never stay up).
 */
export async function startTestHub(
  configJson: unknown,
  options: { configPath?: string; configContext?: ConfigContext; upstreamBackoffMs?: number; waitForReady?: boolean } = {},
): Promise<TestHub> {
  const logLines: string[] = [];
  const { configContext } = options;
  const running = await runHub({
    ...(options.configPath ? { configPath: options.configPath } : { config: validateConfig(configJson, 'test config', configContext) }),
    ...(configContext ? { configContext: () => configContext } : {}),
    token: testToken,
    adminToken: testAdminToken,
    logger: testLogger(logLines),
    port: 0,
    upstreamBackoffMs: options.upstreamBackoffMs ?? 100,
  });
  if (options.waitForReady !== false) await waitFor(() => running.hub.state().upstreams.every((u) => u.state === 'ready'), 10_000, 'upstreams ready');
  return { ...running, url: running.gateway.url, logLines };
}

/** An SDK client transport to `url` that sends `headers` on every request, the SSE stream's GET included. */
export function clientTransport(url: URL, transport: TransportName, headers: Record<string, string>): SSEClientTransport | StreamableHTTPClientTransport {
  if (transport === 'streamable-http') return new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  return new SSEClientTransport(url, {
    requestInit: { headers },
    eventSourceInit: { fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) },
  });
}

/** `client.connect`, closing the transport if it fails: the SDK's SSE transport would retry forever, keeping the process alive. */
export async function connectOver(client: Client, transport: SSEClientTransport | StreamableHTTPClientTransport): Promise<void> {
  try {
    await client.connect(transport);
  } catch (error) {
    await transport.close().catch(() => undefined);
    throw error;
  }
}

/** Connects a real SDK client to a hub endpoint over the named transport. */
export async function connectClient(
  hubUrl: string,
  options: {
    virtualServer?: string;
    transport?: TransportName;
    token?: string;
    headers?: Record<string, string>;
    name?: string;
    capabilities?: ClientCapabilities;
    /** Runs before connecting: the place to set request and notification handlers. */
    beforeConnect?: (client: Client) => void;
  } = {},
): Promise<Client> {
  const base = options.virtualServer === undefined ? hubUrl : `${hubUrl}/servers/${options.virtualServer}`;
  const headers = { authorization: `Bearer ${options.token ?? testToken}`, ...options.headers };
  const client = new Client({ name: options.name ?? 'hub-test-client', version: '1.0.0' }, { capabilities: options.capabilities ?? {} });
  options.beforeConnect?.(client);
  const transport = options.transport ?? 'streamable-http';
  await connectOver(client, clientTransport(new URL(`${base}/${transport === 'sse' ? 'sse' : 'mcp'}`), transport, headers));
  return client;
}

/** A JSON-lines log a fixture wrote (none yet: empty). */
export function readJsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);
}

/** What the scope fixture received, in order. */
export function readRequestLog(file: string) {
  return readJsonLines<{ method: string; name?: string; uri?: string; ref?: { type: string; name?: string; uri?: string } }>(file);
}

/** What the passthrough fixture recorded (FIXTURE_EVENT_LOG): starts, cancellations, subscriptions. */
export type FixtureEvent = { pid: number; event: string; tag?: string; uri?: string };

/** The text of a tool result's first content block ('' when it has none). */
export function firstText(result: unknown): string {
  const first = (result as { content?: { type: string; text?: string }[] }).content?.[0];
  return first?.text ?? '';
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves when `count` parties have arrived; each waits for the others, or fails after `timeoutMs`. */
export function barrier(count: number, timeoutMs = 5_000, what = 'the other parties never arrived'): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return async () => {
    if (++arrived === count) release();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), timeoutMs)));
    try {
      await Promise.race([all, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}
