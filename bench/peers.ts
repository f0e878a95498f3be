/**
 * Peer MCP gateways from npm, each put in front of the bench's stdio upstream so the benchmark
 * can call the same `echo` tool through them as through the hub:
 *
 *   mcp-proxy     (punkpeye)  `mcp-proxy --host 127.0.0.1 --port N -- <cmd> <args…>`
 *                 Streamable HTTP at /mcp (sessionful; SSE at /sse too). ONE shared stdio child:
 *                 "the proxy multiplexes every downstream connection onto a single upstream
 *                 connection" (its README); each session gets its own downstream server object.
 *                 Defaults kept: resumability event store on (1000 events per session), and
 *                 the 2026-07-28 "modern" leg on (2025-era clients, like ours, never touch it).
 *   supergateway  `supergateway --stdio "<cmd>" --outputTransport streamableHttp --stateful
 *                 --port N --logLevel none`. Streamable HTTP at /mcp. A stdio child PER SESSION
 *                 (spawned through `sh -c` at initialize, in its own process group, killed when
 *                 the session ends). Its default, stateless mode spawns a child per POST
 *                 (initialize + the request, then kill), so it is not a mode for sessions;
 *                 `--stateful` is its documented mode for sessionful clients. `--logLevel none`
 *                 because the default `info` writes every JSON-RPC message to stderr. It has no
 *                 host flag: it listens on every interface.
 *   mcp-hub       (ravitemer) `mcp-hub --port N --config <file>`, config
 *                 `{"mcpServers":{"upstream":{"command":…,"args":[…]}}}`. Its unified endpoint
 *                 is HTTP+SSE only (GET /mcp opens the stream, POSTs go to /messages), so the
 *                 client uses SSE. ONE shared stdio child (started with the hub, whatever the
 *                 clients); each SSE client gets its own server object that forwards to it. Tools
 *                 are namespaced `<server>__<tool>`: `upstream__echo`. No host flag (every
 *                 interface), no log-level flag (always debug, JSON lines on stdout plus a log
 *                 file under $XDG_STATE_HOME, which we point into a temp dir together with
 *                 XDG_DATA_HOME/XDG_CONFIG_HOME so nothing lands in ~). At start it fetches a
 *                 marketplace catalog from github.io and carries on with an empty one when it
 *                 cannot (offline: a failed fetch, then a `curl` attempt, then it goes on).
 *
 * The packages are never project dependencies: `ensurePeersInstalled()` installs the pinned
 * versions once into `.cache/bench-peers/` (gitignored) with `npm install --prefix`, with every
 * `npm_*` variable stripped (npm run leaks them into nested npm) and `--ignore-scripts` (the only
 * install script in the tree is tldjs's, under mcp-proxy's tunnel dependency, which we never
 * use; the peers run without it).
 *
 * Each peer runs as `process.execPath <its bin JS>` (not npx) in its own process group with its
 * stdout and stderr going to a log file (the load generator spends no CPU on them, and a full
 * pipe can never stall the peer). `stop()` ends the peer and every process it spawned: the
 * group, plus the descendants found from /proc before signalling (supergateway puts each child
 * in a process group of its own, out of reach of the peer's group).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/support/net';
import { descendantsOf, processState } from '../test/support/processes';
import { connectBenchClient, type BenchClient } from './benchClient';

export const peerNames = ['mcp-proxy', 'supergateway', 'mcp-hub'] as const;
export type PeerName = (typeof peerNames)[number];

/** Exact versions installed and run; bump here (the cache dir is refreshed on the next run). */
export const peerVersions: Readonly<Record<PeerName, string>> = {
  'mcp-proxy': '6.7.19',
  supergateway: '4.0.0',
  'mcp-hub': '4.2.1',
};

export type PeerUpstream = { command: string; args: string[] };

export type RunningPeer = {
  name: PeerName;
  version: string;
  /** The MCP endpoint a client connects to. */
  url: string;
  transport: 'streamable-http' | 'sse';
  /** Headers every request needs (none of the peers asks for auth here). */
  headers: Record<string, string>;
  /** The echo tool's name as this peer exposes it. */
  tool: string;
  /** Whether the peer spawns a stdio upstream per client session (else all share one). */
  childPerSession: boolean;
  /** How the peer was started, for the report: its CLI arguments after the bin. */
  args: string[];
  /** The peer's own process (its process group leader). */
  pid: number;
  /** Live processes the peer spawned (its upstream children, their `sh -c` wrappers). */
  descendants(): number[];
  /** The last lines the peer wrote to stdout/stderr. */
  logTail(lines?: number): string;
  /** Ends the peer and every process it spawned; resolves once all are gone. */
  stop(): Promise<void>;
};

/** `.cache/bench-peers` at the repository root (this file runs from out/bench/). */
export const peersDir = resolve(__dirname, '..', '..', '.cache', 'bench-peers');

const readyTimeoutMs = 30_000;
const stopGraceMs = 2_000;
const installTimeoutMs = 5 * 60_000;
const portAttempts = 3;

// ---------------------------------------------------------------------------
// Installation
// ---------------------------------------------------------------------------

function installedVersion(name: PeerName): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(peersDir, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
    return manifest.version;
  } catch {
    return undefined;
  }
}

/** The environment without npm's `npm_*` variables, which would steer a nested npm. */
function withoutNpmVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !/^npm_/i.test(key)));
}

let installing: Promise<void> | undefined;

/** Installs the pinned peers into `.cache/bench-peers/` unless they are already there. */
export function ensurePeersInstalled(): Promise<void> {
  installing ??= install().catch((error: unknown) => {
    installing = undefined; // let a later call try again
    throw error;
  });
  return installing;
}

async function install(): Promise<void> {
  const specs = peerNames.map((name) => `${name}@${peerVersions[name]}`);
  if (peerNames.every((name) => installedVersion(name) === peerVersions[name])) return;
  mkdirSync(peersDir, { recursive: true });
  process.stderr.write(`bench peers: installing ${specs.join(' ')} into ${peersDir} (once; later runs reuse it)…\n`);
  const started = Date.now();
  const args = ['install', '--prefix', peersDir, '--no-audit', '--no-fund', '--no-save', '--ignore-scripts', '--loglevel=error', ...specs];
  const output = await new Promise<string>((resolveInstall, reject) => {
    const npm = spawn(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, {
      cwd: peersDir,
      env: withoutNpmVariables(process.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    npm.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const timer = setTimeout(() => npm.kill('SIGKILL'), installTimeoutMs);
    npm.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run npm to install the bench peers: ${error.message}`));
    });
    npm.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolveInstall(text);
      else reject(new Error(`npm install ${specs.join(' ')} failed (${signal ?? `exit ${code}`}): ${tail(text, 8) || 'no output'}`));
    });
  });
  const wrong = peerNames.filter((name) => installedVersion(name) !== peerVersions[name]);
  if (wrong.length) throw new Error(`npm install finished but ${wrong.join(', ')} is not at the pinned version in ${peersDir}: ${tail(output, 8)}`);
  process.stderr.write(`bench peers: installed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

/** The JS file behind a package's bin, run with this node (not npx, not the shebang). */
function binPath(name: PeerName): string {
  const root = join(peersDir, 'node_modules', name);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[name];
  if (!bin) throw new Error(`${name}: no '${name}' bin in its package.json`);
  return join(root, bin);
}

// ---------------------------------------------------------------------------
// Per-peer launch recipes
// ---------------------------------------------------------------------------

type Recipe = {
  args: string[];
  path: string;
  transport: RunningPeer['transport'];
  childPerSession: boolean;
  env?: NodeJS.ProcessEnv;
};

/** Quotes one word for `sh -c` (supergateway runs its --stdio string through a shell). */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function recipe(name: PeerName, port: number, upstream: PeerUpstream, workDir: string): Recipe {
  switch (name) {
    case 'mcp-proxy':
      return {
        args: ['--host', '127.0.0.1', '--port', String(port), '--', upstream.command, ...upstream.args],
        path: '/mcp',
        transport: 'streamable-http',
        childPerSession: false,
      };
    case 'supergateway':
      return {
        args: [
          '--stdio', [upstream.command, ...upstream.args].map(shellQuote).join(' '),
          '--outputTransport', 'streamableHttp',
          '--stateful',
          '--port', String(port),
          '--logLevel', 'none',
        ],
        path: '/mcp',
        transport: 'streamable-http',
        childPerSession: true,
      };
    case 'mcp-hub': {
      const config = join(workDir, 'mcp-hub.json');
      writeFileSync(config, `${JSON.stringify({ mcpServers: { upstream: { command: upstream.command, args: upstream.args } } }, null, 2)}\n`);
      return {
        args: ['--port', String(port), '--config', config],
        path: '/mcp',
        transport: 'sse',
        childPerSession: false,
        env: { XDG_STATE_HOME: join(workDir, 'state'), XDG_DATA_HOME: join(workDir, 'data'), XDG_CONFIG_HOME: join(workDir, 'config') },
      };
    }
  }
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/**
 * Every running peer's pid and the env tag its tree carries, so that a bench that ends without
 * `stop()` still takes them along. Peers sit in process groups of their own, so a Ctrl-C in the
 * terminal does not reach them, and a signal's default action skips 'exit' listeners: while
 * a peer runs, SIGINT/SIGTERM/SIGHUP kill every peer tree and are then re-raised (unless the
 * process has listeners of its own for them). Only a SIGKILL of the bench escapes all this:
 * supergateway then exits because its stdin closes; mcp-proxy and mcp-hub would be orphaned.
 */
const live = new Map<number, { tag: string; workDir: string }>();
const forwardedSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killLivePeers(): void {
  for (const [pid, { tag, workDir }] of live) {
    killAll([pid, ...descendantsOf(pid), ...taggedProcesses(tag)], pid, 'SIGKILL');
    rmSync(workDir, { recursive: true, force: true });
  }
  live.clear();
}

function onFatalSignal(signal: NodeJS.Signals): void {
  killLivePeers();
  disarm();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function track(pid: number, tag: string, workDir: string): void {
  if (live.size === 0) {
    process.on('exit', killLivePeers);
    for (const signal of forwardedSignals) process.on(signal, onFatalSignal);
  }
  live.set(pid, { tag, workDir });
}

function untrack(pid: number): void {
  if (live.delete(pid) && live.size === 0) disarm();
}

function disarm(): void {
  process.off('exit', killLivePeers);
  for (const signal of forwardedSignals) process.off(signal, onFatalSignal);
}

/** Processes whose environment carries `BENCH_PEER_TAG=<tag>` (reparented children included). */
function taggedProcesses(tag: string): number[] {
  if (process.platform !== 'linux') return [];
  const needle = `BENCH_PEER_TAG=${tag}\0`;
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').includes(needle)) found.push(Number(name));
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

/** Signals the peer's process group and each given process (and its group, if it leads one). */
function killAll(pids: number[], groupLeader: number, signal: NodeJS.Signals): void {
  const attempt = (target: number) => {
    try {
      process.kill(target, signal);
    } catch {
      // already gone
    }
  };
  attempt(-groupLeader);
  for (const pid of new Set(pids)) {
    attempt(-pid);
    attempt(pid);
  }
}

const isAlive = (pid: number) => processState(pid) === 'alive';

/** The last `lines` lines, runs of repeats (timestamps aside) folded into one: mcp-hub floods its log. */
function tail(text: string, lines: number): string {
  const folded: Array<{ line: string; key: string; count: number }> = [];
  for (const line of text.trimEnd().split('\n')) {
    const key = line.replace(/"timestamp":"[^"]*"/, '');
    const last = folded[folded.length - 1];
    if (last?.key === key) last.count++;
    else folded.push({ line, key, count: 1 });
  }
  return folded
    .slice(-lines)
    .map(({ line, count }) => (count > 1 ? `${line} [x${count}]` : line))
    .join('\n');
}

const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/** The echo tool on a peer: `echo` itself, or a namespaced `<server>__echo`. */
function findEcho(names: string[]): string | undefined {
  return names.find((n) => n === 'echo') ?? names.find((n) => n.endsWith('__echo'));
}

// ---------------------------------------------------------------------------
// startPeer
// ---------------------------------------------------------------------------

/**
 * Installs (once) and starts `name` on 127.0.0.1 and a free port in front of `upstream`, and
 * resolves once an SDK client can connect and sees the echo tool. Throws a clear error (with
 * the peer's output) when it cannot: the bench reports that peer as skipped.
 */
export async function startPeer(name: PeerName, upstream: PeerUpstream): Promise<RunningPeer> {
  if (!peerNames.includes(name)) throw new Error(`unknown peer '${String(name)}'; known: ${peerNames.join(', ')}`);
  await ensurePeersInstalled();
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= portAttempts; attempt++) {
    try {
      return await launch(name, upstream, await freePort());
    } catch (error) {
      lastError = error instanceof Error ? error : new Error(String(error));
      // Another process may have taken the port between our probe and the peer's listen.
      if (!/EADDRINUSE/.test(lastError.message)) break;
    }
  }
  throw lastError!;
}

async function launch(name: PeerName, upstream: PeerUpstream, port: number): Promise<RunningPeer> {
  const version = installedVersion(name) ?? 'unknown';
  const bin = binPath(name);
  const workDir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const logFile = join(workDir, 'output.log');
  const tag = randomBytes(8).toString('hex');
  let plan: Recipe;
  let child: ChildProcess;
  try {
    plan = recipe(name, port, upstream, workDir);
    const logFd = openSync(logFile, 'a');
    try {
      child = spawn(process.execPath, [bin, ...plan.args], {
        cwd: workDir,
        detached: true, // its own process group: stop() signals the whole tree
        // stdin a pipe that nothing writes: supergateway exits when it closes, even after a SIGKILLed bench.
        stdio: ['pipe', logFd, logFd],
        env: { ...withoutNpmVariables(process.env), ...plan.env, BENCH_PEER_TAG: tag },
      });
    } finally {
      closeSync(logFd);
    }
  } catch (error) {
    rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
  const pid = child.pid;
  if (pid === undefined) {
    rmSync(workDir, { recursive: true, force: true });
    throw new Error(`${name}: could not spawn ${process.execPath}`);
  }
  track(pid, tag, workDir);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolveExit) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolveExit();
    }),
  );
  child.once('error', () => undefined); // surfaces as an exit; the log has the rest

  const logTail = (lines = 20) => {
    try {
      return tail(readFileSync(logFile, 'utf8'), lines);
    } catch {
      return '';
    }
  };
  const descendants = () => [...new Set([...descendantsOf(pid), ...taggedProcesses(tag)])].filter((p) => p !== pid && isAlive(p));

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Found before any signal: once the peer dies, its children are reparented and
      // supergateway's sit in process groups of their own.
      const tree = descendants();
      killAll(tree, pid, 'SIGTERM');
      const deadline = Date.now() + stopGraceMs;
      const anyAlive = () => exited === undefined || [...tree, ...descendants()].some(isAlive);
      while (anyAlive() && Date.now() < deadline) await sleep(25);
      if (anyAlive()) {
        killAll([...tree, ...descendants()], pid, 'SIGKILL');
        await Promise.race([exitPromise, sleep(2_000)]);
        const hardDeadline = Date.now() + 2_000;
        while ([...tree, ...descendants()].some(isAlive) && Date.now() < hardDeadline) await sleep(25);
      }
      untrack(pid);
      child.stdin?.destroy();
      rmSync(workDir, { recursive: true, force: true });
    })());

  const url = `http://127.0.0.1:${port}${plan.path}`;
  const base = { name, version, url, transport: plan.transport, headers: {}, childPerSession: plan.childPerSession, args: plan.args };
  try {
    const tool = await waitReady(base, () => exited, logTail);
    return { ...base, tool, pid, descendants, logTail, stop };
  } catch (error) {
    const output = logTail(15);
    await stop();
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`${name} ${version} not ready: ${why}${output ? `\n--- ${name} output (last lines) ---\n${output}` : ' (it printed nothing)'}`);
  }
}

/** Polls with a real SDK session until the echo tool is listed; resolves with its name. */
async function waitReady(
  peer: Pick<RunningPeer, 'name' | 'url' | 'transport' | 'headers'>,
  exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined,
  logTail: (lines?: number) => string,
): Promise<string> {
  const deadline = Date.now() + readyTimeoutMs;
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    const exit = exited();
    if (exit) {
      const inUse = /EADDRINUSE/.test(logTail(40)) ? ' (EADDRINUSE)' : '';
      throw new Error(`exited (${exit.signal ?? `code ${exit.code}`}) before it was ready${inUse}`);
    }
    let connection: BenchClient | undefined;
    try {
      const pending = connectBenchClient(peer.url, peer.transport, peer.headers, 'peer-ready-probe');
      connection = await withTimeout(pending, 5_000).catch((error: unknown) => {
        pending.then((late) => late.close()).catch(() => undefined); // a late session is closed, not leaked
        throw error;
      });
      const { tools } = await withTimeout(connection.client.listTools(), 5_000);
      const tool = findEcho(tools.map((t) => t.name));
      if (tool) return tool;
      lastProblem = `connected, but no echo tool yet (tools: ${tools.map((t) => t.name).join(', ') || 'none'})`;
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await sleep(200);
  }
  throw new Error(`no echo tool at ${peer.url} (${peer.transport}) after ${readyTimeoutMs / 1000} s; last: ${lastProblem}`);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Whether the pinned peers are already installed (no npm run needed). */
export function peersInstalled(): boolean {
  return existsSync(peersDir) && peerNames.every((name) => installedVersion(name) === peerVersions[name]);
}
