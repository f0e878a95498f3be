/**
 * `tools/call` of a trivial echo tool, direct to an upstream vs through the hub's global `/mcp`
 * (one shared `http` connection to the same upstream), for N concurrent Streamable HTTP
 * sessions. Each session calls in a closed loop for a fixed window; every window is repeated R
 * times and reported as median [min–max].
 *
 * Processes: this one runs the N SDK clients (the load), the upstream and the hub each run in
 * their own child, so the load generator's CPU never shares an event loop with what is measured.
 *
 *   node out/bench/hubVsDirect.js [--quick] [--runs R] [--sessions 1,10,100] [--paths direct,hub]
 *                                 [--window-ms MS] [--warmup-ms MS] [--profile-hub DIR] [--out FILE]
 *                                 [--upstream-json]  (upstream answers JSON bodies instead of SSE)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawnReady, type ReadyChild } from '../test/support/readyChild';
import { cpuPerCall, cpuSnapshot, type CpuSnapshot } from './cpuTime';
import { formatSpread, spread, type Spread } from './spread';

type PathName = 'direct' | 'hub';

type Options = {
  quick: boolean;
  runs: number;
  sessions: number[];
  paths: PathName[];
  windowMs: number;
  warmupMs: number;
  profileDir?: string;
  upstreamJson: boolean;
  out: string;
};

/** One measured window. Latencies in ms. */
type RunSample = {
  calls: number;
  errors: number;
  elapsedMs: number;
  throughput: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** CPU µs per call of each process (client = this load generator). */
  cpuPerCallUs: CpuSnapshot;
};
type PathResult = { path: PathName; sessions: number; runs: RunSample[]; throughput: Spread; p50: Spread; p99: Spread; cpuPerCallUs: CpuSnapshot };
type Comparison = { sessions: number; throughputRatio: number; addedP50Ms: number; addedP99Ms: number };

/** A connected client and the name its echo tool has on that endpoint. */
type Session = { client: Client; transport: StreamableHTTPClientTransport; tool: string };

/** pids of the child processes whose CPU time is sampled around each window. */
const childPids = new Map<string, number>();

const benchDir = resolve(__dirname, '..', '..', 'bench');
const connectConcurrency = 10;
const echoArguments = { text: 'ping' };

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const positiveInt = (flag: string, fallback: number): number => {
    const raw = value(flag);
    if (raw === undefined) return fallback;
    const parsed = Number(raw);
    if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${flag} needs a positive integer, got '${raw}'`);
    return parsed;
  };
  const quick = argv.includes('--quick');
  const sessions = (value('--sessions') ?? '1,10,100').split(',').map(Number);
  if (sessions.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--sessions needs positive integers, got '${value('--sessions')}'`);
  const paths = (value('--paths') ?? 'direct,hub').split(',') as PathName[];
  if (paths.some((p) => p !== 'direct' && p !== 'hub')) throw new Error(`--paths takes direct and/or hub, got '${value('--paths')}'`);
  const profileDir = value('--profile-hub');
  const upstreamJson = argv.includes('--upstream-json');
  const variant = `${profileDir ? '-profiled' : ''}${upstreamJson ? '-upstream-json' : ''}`;
  const defaultOut = `hub-vs-direct${variant}.json`;
  return {
    quick,
    runs: positiveInt('--runs', 3),
    sessions,
    paths,
    // Default: 3 sizes x 2 paths x (3 x 3 s + 1 s warm-up) = 60 s of load plus setup.
    windowMs: positiveInt('--window-ms', quick ? 1_000 : 3_000),
    warmupMs: positiveInt('--warmup-ms', quick ? 300 : 1_000),
    profileDir: profileDir ? resolve(profileDir) : undefined,
    upstreamJson,
    out: resolve(value('--out') ?? join(benchDir, 'results', defaultOut)),
  };
}

/** 1-minute load average when the bench started: anything else busy on the box skews the numbers. */
const loadAtStart = loadavg()[0];

function machineLine(): string {
  const cpu = cpus();
  const load = `load avg ${loadAtStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end`;
  return `machine: ${cpu[0]?.model.trim() ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}, ${platform()} ${release()}, ${load}`;
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

async function connectSession(endpoint: string, tool: string, headers: Record<string, string>): Promise<Session> {
  const client = new Client({ name: 'hub-bench', version: '1.0.0' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), { requestInit: { headers } });
  await client.connect(transport);
  return { client, transport, tool };
}

/** Opens `count` sessions a few at a time: a burst of 100 initializes is not what we measure. */
async function connectSessions(count: number, connect: () => Promise<Session>): Promise<Session[]> {
  const sessions: Session[] = [];
  while (sessions.length < count) {
    const batch = Math.min(connectConcurrency, count - sessions.length);
    sessions.push(...(await Promise.all(Array.from({ length: batch }, connect))));
  }
  return sessions;
}

/** DELETE each session so the server frees it, then close the client. */
async function closeSessions(sessions: Session[]): Promise<void> {
  await Promise.allSettled(
    sessions.map(async ({ client, transport }) => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    }),
  );
}

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

/** One session calling back-to-back until the deadline; a call that starts before it is counted. */
async function closedLoop(session: Session, deadline: number, latencies: number[], errors: { count: number }): Promise<void> {
  while (performance.now() < deadline) {
    const started = performance.now();
    try {
      const result = await session.client.callTool({ name: session.tool, arguments: echoArguments });
      if (result.isError) errors.count++;
      else latencies.push(performance.now() - started);
    } catch {
      errors.count++;
    }
  }
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function measureWindow(sessions: Session[], windowMs: number): Promise<RunSample> {
  const latencies: number[] = [];
  const errors = { count: 0 };
  const cpuBefore = cpuSnapshot(childPids);
  const started = performance.now();
  await Promise.all(sessions.map((session) => closedLoop(session, started + windowMs, latencies, errors)));
  const elapsedMs = performance.now() - started;
  const cpuAfter = cpuSnapshot(childPids);
  const sorted = Float64Array.from(latencies).sort();
  const sum = latencies.reduce((a, b) => a + b, 0);
  return {
    calls: latencies.length,
    errors: errors.count,
    elapsedMs,
    throughput: latencies.length / (elapsedMs / 1000),
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    mean: latencies.length ? sum / latencies.length : Number.NaN,
    cpuPerCallUs: cpuPerCall(cpuBefore, cpuAfter, latencies.length),
  };
}

function summarize(path: PathName, sessions: number, runs: RunSample[]): PathResult {
  return {
    path,
    sessions,
    runs,
    throughput: spread(runs.map((r) => r.throughput)),
    p50: spread(runs.map((r) => r.p50)),
    p99: spread(runs.map((r) => r.p99)),
    cpuPerCallUs: medianCpu(runs),
  };
}

/** Per process, the median over runs of CPU µs per call. */
function medianCpu(runs: RunSample[]): CpuSnapshot {
  const names = new Set(runs.flatMap((r) => Object.keys(r.cpuPerCallUs)));
  const median: CpuSnapshot = {};
  for (const name of names) {
    const values = runs.map((r) => r.cpuPerCallUs[name]).filter((v): v is number => v !== undefined);
    median[name] = values.length ? spread(values).median : undefined;
  }
  return median;
}

/**
 * Warms every path up, then measures R windows per path, alternating which path goes first
 * (ABBA) so slow drift of the machine does not favour one of them.
 */
async function measureSize(n: number, endpoints: Map<PathName, () => Promise<Session>>, options: Options): Promise<PathResult[]> {
  const open = new Map<PathName, Session[]>();
  try {
    for (const [path, connect] of endpoints) open.set(path, await connectSessions(n, connect));
    for (const sessions of open.values()) await measureWindow(sessions, options.warmupMs);
    const runs = new Map<PathName, RunSample[]>([...open.keys()].map((path) => [path, []]));
    for (let run = 0; run < options.runs; run++) {
      const order = run % 2 === 0 ? [...open.keys()] : [...open.keys()].reverse();
      for (const path of order) {
        const sample = await measureWindow(open.get(path)!, options.windowMs);
        runs.get(path)!.push(sample);
        process.stderr.write(`  N=${n} ${path} run ${run + 1}/${options.runs}: ${sample.throughput.toFixed(0)} calls/s, p50 ${sample.p50.toFixed(2)} ms\n`);
      }
    }
    return [...runs].map(([path, samples]) => summarize(path, n, samples));
  } finally {
    await Promise.all([...open.values()].map(closeSessions));
  }
}

function compare(results: PathResult[]): Comparison[] {
  const sizes = [...new Set(results.map((r) => r.sessions))];
  return sizes.flatMap((sessions) => {
    const direct = results.find((r) => r.sessions === sessions && r.path === 'direct');
    const hub = results.find((r) => r.sessions === sessions && r.path === 'hub');
    if (!direct || !hub) return [];
    return [{
      sessions,
      throughputRatio: hub.throughput.median / direct.throughput.median,
      addedP50Ms: hub.p50.median - direct.p50.median,
      addedP99Ms: hub.p99.median - direct.p99.median,
    }];
  });
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------


function formatCpu(cpu: CpuSnapshot): string {
  const micros = (name: string) => (cpu[name] === undefined ? '-' : cpu[name]!.toFixed(0));
  return `${micros('client')} / ${micros('upstream')} / ${micros('hub')}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  return rows.map((row) => row.map((cell, col) => cell.padEnd(widths[col])).join('  ').trimEnd()).join('\n');
}

function printReport(options: Options, results: PathResult[], comparisons: Comparison[]): void {
  const header = ['sessions', 'path', 'calls/s med [min–max]', 'p50 ms med [min–max]', 'p99 ms med [min–max]', 'CPU µs/call client/upstream/hub', 'errors'];
  const rows = results.map((r) => [
    String(r.sessions),
    r.path,
    formatSpread(r.throughput, 0),
    formatSpread(r.p50, 2),
    formatSpread(r.p99, 2),
    formatCpu(r.cpuPerCallUs),
    String(r.runs.reduce((sum, run) => sum + run.errors, 0)),
  ]);
  console.log(machineLine());
  console.log(`mode: ${options.quick ? 'quick' : 'default'}, ${options.runs} runs x ${options.windowMs} ms window, ${options.warmupMs} ms warm-up, upstream answers ${options.upstreamJson ? 'JSON' : 'SSE'}${options.profileDir ? ', hub under --cpu-prof' : ''}\n`);
  console.log(table([header, ...rows]));
  if (comparisons.length === 0) return;
  const ratioRows = comparisons.map((c) => [String(c.sessions), c.throughputRatio.toFixed(2), c.addedP50Ms.toFixed(2), c.addedP99Ms.toFixed(2)]);
  console.log(`\n${table([['sessions', 'hub/direct calls/s', 'added p50 ms', 'added p99 ms'], ...ratioRows])}`);
}

function writeResults(options: Options, results: PathResult[], comparisons: Comparison[]): void {
  mkdirSync(join(options.out, '..'), { recursive: true });
  const { out: _out, ...settings } = options;
  const cpu = cpus();
  const machine = { cpu: cpu[0]?.model.trim(), cores: cpu.length, node: process.version, platform: platform(), release: release(), loadavgAtStart: loadAtStart, loadavgAtEnd: loadavg()[0] };
  writeFileSync(options.out, `${JSON.stringify({ at: new Date().toISOString(), machine, settings, results, comparisons }, null, 2)}\n`);
  console.log(`\nraw numbers: ${options.out}`);
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const token = randomBytes(24).toString('hex');
  const children: ReadyChild[] = [];
  try {
    const upstream = await spawnReady(join(__dirname, 'upstream.js'), options.upstreamJson ? ['--json'] : []);
    children.push(upstream);
    childPids.set('upstream', upstream.pid);
    const endpoints = new Map<PathName, () => Promise<Session>>();
    if (options.paths.includes('direct')) endpoints.set('direct', () => connectSession(upstream.url, 'echo', {}));
    if (options.paths.includes('hub')) {
      const nodeArgs = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [];
      const hub = await spawnReady(join(__dirname, 'hubProcess.js'), [upstream.url], { nodeArgs, env: { HUB_BENCH_TOKEN: token } });
      children.push(hub);
      childPids.set('hub', hub.pid);
      endpoints.set('hub', () => connectSession(`${hub.url}/mcp`, 'up__echo', { authorization: `Bearer ${token}` }));
    }
    const results: PathResult[] = [];
    for (const n of options.sessions) results.push(...(await measureSize(n, endpoints, options)));
    const comparisons = compare(results);
    console.log('');
    printReport(options, results, comparisons);
    writeResults(options, results, comparisons);
  } finally {
    // Hub first: it holds a session on the upstream.
    for (const child of children.reverse()) await child.stop();
  }
  if (options.profileDir) console.log(`hub CPU profile written to ${options.profileDir}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
