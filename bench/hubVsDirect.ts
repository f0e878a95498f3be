/**
 * `tools/call` of a trivial echo tool for N concurrent sessions, along each path:
 *   direct           the SDK client to the upstream over Streamable HTTP (the baseline), SSE answers
 *   direct-json      the same to a second upstream that answers each POST with one JSON body
 *   bare-hop(-json)  a keep-alive `node:http` reverse proxy in front of each (the floor of one Node hop)
 *   hub              the hub's `/mcp`, one shared Streamable HTTP connection to the SSE upstream
 *   hub-json         the same to the JSON upstream: the two answer shapes a server may choose
 *   hub-stdio        the hub, one shared stdio child of the same upstream program
 *   hub-per-session  the hub, a stdio child per session (`perSession: true`)
 *   mcp-proxy, supergateway, mcp-hub   peer gateways from npm in front of the stdio upstream
 * Each session calls in a closed loop for a fixed window; every window is repeated R times and
 * reported as median [min–max]. Then: session set-up time (initialize + first tools/list), memory
 * per open session, and a churn of many sessions through the hub (RSS, sessions and children left).
 *
 * Processes: this one runs the SDK clients (the load); the upstream, the hub and each peer run
 * in their own child, so the load generator's CPU never shares an event loop with what is measured.
 *
 *   node out/bench/hubVsDirect.js [--quick] [--runs R] [--sessions 1,10,100] [--paths direct,hub,...]
 *                                 [--window-ms MS] [--warmup-ms MS] [--churn N] [--profile-hub DIR]
 *                                 [--out FILE]
 * Each path is compared with the direct path and the bare hop of its own answer shape.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release } from 'node:os';
import { join, resolve } from 'node:path';
import { AdminClient } from '../src/client/adminClient';
import type { TransportName } from '../test/support/hubHarness';
import { descendantsOf } from '../test/support/processes';
import { spawnReady, type ReadyChild } from '../test/support/readyChild';
import { connectBenchClient, type BenchClient } from './benchClient';
import { cpuPerCall, cpuSnapshot, type CpuSnapshot } from './cpuTime';
import { peerNames, startPeer, type PeerName, type RunningPeer } from './peers';
import { formatSpread, spread, type Spread } from './spread';

const hubPaths = ['hub', 'hub-json', 'hub-stdio', 'hub-per-session'] as const;
const baselinePaths = ['direct', 'direct-json', 'bare-hop', 'bare-hop-json'] as const;
const allPaths = [...baselinePaths, ...hubPaths, ...peerNames] as const;
type PathName = (typeof allPaths)[number];

/** The paths whose upstream answers with one JSON body; every other path's answers with SSE. */
const jsonAnswerPaths: readonly PathName[] = ['direct-json', 'bare-hop-json', 'hub-json'];
/** What a path is compared with: the direct path and the bare hop of its own answer shape. */
function baselinesOf(path: PathName): { direct: PathName; floor: PathName } {
  return jsonAnswerPaths.includes(path) ? { direct: 'direct-json', floor: 'bare-hop-json' } : { direct: 'direct', floor: 'bare-hop' };
}

type Options = {
  quick: boolean;
  runs: number;
  sessions: number[];
  paths: PathName[];
  windowMs: number;
  warmupMs: number;
  setupRounds: number;
  churn: number;
  profileDir?: string;
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
type PathResult = {
  path: PathName;
  sessions: number;
  runs: RunSample[];
  throughput: Spread;
  p50: Spread;
  p99: Spread;
  cpuPerCallUs: CpuSnapshot;
  /** RSS growth of the path's process tree per open session, KiB (hub and peers only). */
  memoryPerSessionKiB?: number;
};
/** Against direct, and for the hub and the peers also against the bare hop (the floor of one Node hop). */
type Comparison = { path: PathName; sessions: number; throughputRatio: number; addedP50Ms: number; addedP99Ms: number; floorThroughputRatio?: number; floorCpuRatio?: number };
type SetupResult = { path: PathName; ms: Spread };
type ChurnResult = {
  sessions: number;
  elapsedMs: number;
  errors: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  sessionsLeft: number;
  childrenBefore: number;
  childrenAfter: number;
};

/** A connected client and the name its echo tool has on that endpoint. */
type Session = BenchClient & { tool: string };

/**
 * How to reach one path, the process whose CPU and memory it costs (none for direct), and the
 * HTTP upstream it calls (none for stdio upstreams, which are the gateway's children).
 */
type Target = { path: PathName; connect(): Promise<Session>; pid?: number; upstreamPid?: number; note: string };

const benchDir = resolve(__dirname, '..', '..', 'bench');
const stdioUpstream = join(__dirname, 'upstream.js');
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
    if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`${flag} needs a whole number, got '${raw}'`);
    return parsed;
  };
  const quick = argv.includes('--quick');
  const sessions = (value('--sessions') ?? '1,10,100').split(',').map(Number);
  if (sessions.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--sessions needs positive integers, got '${value('--sessions')}'`);
  const paths = (value('--paths') ?? allPaths.join(',')).split(',') as PathName[];
  const unknown = paths.filter((p) => !allPaths.includes(p));
  if (unknown.length) throw new Error(`--paths takes ${allPaths.join(', ')}; unknown: ${unknown.join(', ')}`);
  // Every ratio is against the direct path and the bare hop of the path's answer shape: those come first.
  const baselines = new Set(paths.flatMap((path) => Object.values(baselinesOf(path))));
  const ordered = [...baselinePaths.filter((path) => baselines.has(path) || paths.includes(path)), ...paths.filter((path) => !(baselinePaths as readonly string[]).includes(path))];
  const profileDir = value('--profile-hub');
  const variant = profileDir ? '-profiled' : '';
  return {
    quick,
    runs: positiveInt('--runs', quick ? 3 : 5),
    sessions,
    paths: ordered,
    windowMs: positiveInt('--window-ms', quick ? 1_000 : 3_000),
    warmupMs: positiveInt('--warmup-ms', quick ? 300 : 3_000),
    setupRounds: quick ? 10 : 30,
    churn: positiveInt('--churn', quick ? 200 : 1_000),
    profileDir: profileDir ? resolve(profileDir) : undefined,
    out: resolve(value('--out') ?? join(benchDir, 'results', `hub-vs-direct${variant}.json`)),
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
// Processes
// ---------------------------------------------------------------------------

/** Resident memory of a process, KiB; 0 once it is gone. */
function rssKiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** A process and all its descendants: what a gateway with a child per session really costs. */
function treeRssKiB(pid: number): number {
  return [pid, ...descendantsOf(pid)].reduce((sum, p) => sum + rssKiB(p), 0);
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

async function connectSession(url: string, tool: string, headers: Record<string, string>, transport: TransportName = 'streamable-http'): Promise<Session> {
  return { ...(await connectBenchClient(url, transport, headers)), tool };
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
  await Promise.allSettled(sessions.map((session) => session.close()));
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

async function measureWindow(sessions: Session[], windowMs: number, { pid: gateway, upstreamPid }: Pick<Target, 'pid' | 'upstreamPid'>): Promise<RunSample> {
  const latencies: number[] = [];
  const errors = { count: 0 };
  // The gateway and the upstream are the measured path's own (none for direct), so each path's columns are its own.
  const pids = new Map<string, number>();
  if (gateway !== undefined) pids.set('gateway', gateway);
  if (upstreamPid !== undefined) pids.set('upstream', upstreamPid);
  // A gateway's stdio upstreams are its descendants: their CPU is the upstream's share on those paths.
  const childrenOf = gateway === undefined ? undefined : { pid: gateway, descendants: descendantsOf };
  const cpuBefore = cpuSnapshot(pids, childrenOf);
  const started = performance.now();
  await Promise.all(sessions.map((session) => closedLoop(session, started + windowMs, latencies, errors)));
  const elapsedMs = performance.now() - started;
  const cpuAfter = cpuSnapshot(pids, childrenOf);
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
 * For one session count: opens N sessions on every path (one path at a time, so a path's
 * memory per session is its own), makes one call on each (a per-session instance starts
 * here, not in a measured window), warms up, then measures R windows per path in an order
 * that alternates (ABBA) so slow drift of the machine does not favour one of them.
 */
async function measureSize(n: number, targets: Target[], options: Options): Promise<PathResult[]> {
  const open = new Map<Target, Session[]>();
  const memory = new Map<Target, number>();
  try {
    for (const target of targets) {
      const before = target.pid ? treeRssKiB(target.pid) : 0;
      const sessions = await connectSessions(n, target.connect);
      open.set(target, sessions);
      for (let i = 0; i < sessions.length; i += connectConcurrency) {
        await Promise.all(sessions.slice(i, i + connectConcurrency).map((s) => s.client.callTool({ name: s.tool, arguments: echoArguments })));
      }
      if (target.pid) memory.set(target, (treeRssKiB(target.pid) - before) / n);
    }
    for (const [target, sessions] of open) await measureWindow(sessions, options.warmupMs, target);
    const runs = new Map<Target, RunSample[]>(targets.map((target) => [target, []]));
    for (let run = 0; run < options.runs; run++) {
      const order = run % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        const sample = await measureWindow(open.get(target)!, options.windowMs, target);
        runs.get(target)!.push(sample);
        process.stderr.write(`  N=${n} ${target.path} run ${run + 1}/${options.runs}: ${sample.throughput.toFixed(0)} calls/s, p50 ${sample.p50.toFixed(2)} ms, ${sample.errors} errors\n`);
      }
    }
    return targets.map((target) => {
      const samples = runs.get(target)!;
      return {
        path: target.path,
        sessions: n,
        runs: samples,
        throughput: spread(samples.map((r) => r.throughput)),
        p50: spread(samples.map((r) => r.p50)),
        p99: spread(samples.map((r) => r.p99)),
        cpuPerCallUs: medianCpu(samples),
        memoryPerSessionKiB: memory.get(target),
      };
    });
  } finally {
    await Promise.all([...open.values()].map(closeSessions));
  }
}

/** Session set-up as a client sees it: connect (initialize + initialized) and the first tools/list, one at a time. */
async function measureSetup(target: Target, rounds: number): Promise<SetupResult> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    const session = await target.connect();
    await session.client.listTools();
    times.push(performance.now() - started);
    await session.close();
  }
  return { path: target.path, ms: spread(times) };
}

/**
 * Many short sessions through the hub, ten at a time: each initializes, lists tools, calls the
 * shared echo and the per-session echo (which gives it an upstream instance), and ends with
 * DELETE. Afterwards the hub must hold no session and have no more children than before.
 */
async function measureChurn(count: number, hub: ReadyChild, adminToken: string, connect: () => Promise<Session>): Promise<ChurnResult> {
  const settle = () => new Promise((resolveSettle) => setTimeout(resolveSettle, 2_000));
  await settle();
  const rssBefore = rssKiB(hub.pid);
  const childrenBefore = descendantsOf(hub.pid).length;
  let errors = 0;
  const started = performance.now();
  for (let done = 0; done < count; done += connectConcurrency) {
    const batch = Math.min(connectConcurrency, count - done);
    await Promise.all(
      Array.from({ length: batch }, async () => {
        try {
          const session = await connect();
          await session.client.listTools();
          await session.client.callTool({ name: 'up__echo', arguments: echoArguments });
          await session.client.callTool({ name: 'ps__echo', arguments: echoArguments });
          await session.close();
        } catch {
          errors++;
        }
      }),
    );
    if ((done / connectConcurrency) % 10 === 0) process.stderr.write(`  churn: ${done + batch}/${count}\n`);
  }
  const elapsedMs = performance.now() - started;
  await settle();
  return {
    sessions: count,
    elapsedMs,
    errors,
    rssBeforeMiB: rssBefore / 1024,
    rssAfterMiB: rssKiB(hub.pid) / 1024,
    sessionsLeft: (await new AdminClient(hub.url, adminToken).state()).sessions.length,
    childrenBefore,
    childrenAfter: descendantsOf(hub.pid).length,
  };
}

/**
 * The median over runs of `value(path's run i) / value(baseline's run i)`: paired windows of the
 * same run, measured one after the other, share the machine's state at the time, which a ratio
 * of two medians taken over the whole measurement does not (on a shared 2-core VM the same
 * window can cost 30% more CPU a minute later). The ratio of the medians for the peers, which
 * are measured on their own after the rest, so that their windows pair with nothing.
 */
function pairedRatio(path: PathResult, baseline: PathResult, value: (run: RunSample) => number | undefined): number | undefined {
  if ((peerNames as readonly string[]).includes(path.path)) return undefined;
  const ratios = path.runs.flatMap((run, i) => {
    const own = value(run);
    const base = baseline.runs[i] === undefined ? undefined : value(baseline.runs[i]);
    return own !== undefined && base ? [own / base] : [];
  });
  return ratios.length === path.runs.length && ratios.length > 0 ? spread(ratios).median : undefined;
}

function compare(results: PathResult[]): Comparison[] {
  return results.flatMap((result) => {
    const baseline = baselinesOf(result.path);
    const direct = results.find((r) => r.sessions === result.sessions && r.path === baseline.direct);
    if (!direct || result.path === baseline.direct) return [];
    const floor = results.find((r) => r.sessions === result.sessions && r.path === baseline.floor);
    const throughput = (run: RunSample) => run.throughput;
    const gatewayCpu = (run: RunSample) => run.cpuPerCallUs.gateway;
    const floorCpuMedian = floor?.cpuPerCallUs.gateway;
    const ownCpuMedian = result.cpuPerCallUs.gateway;
    return [{
      path: result.path,
      sessions: result.sessions,
      throughputRatio: pairedRatio(result, direct, throughput) ?? result.throughput.median / direct.throughput.median,
      addedP50Ms: result.p50.median - direct.p50.median,
      addedP99Ms: result.p99.median - direct.p99.median,
      ...(floor && result.path !== baseline.floor
        ? {
            floorThroughputRatio: pairedRatio(result, floor, throughput) ?? result.throughput.median / floor.throughput.median,
            ...(floorCpuMedian && ownCpuMedian !== undefined ? { floorCpuRatio: pairedRatio(result, floor, gatewayCpu) ?? ownCpuMedian / floorCpuMedian } : {}),
          }
        : {}),
    }];
  });
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

function formatCpu(cpu: CpuSnapshot): string {
  const micros = (name: string) => (cpu[name] === undefined ? '-' : cpu[name]!.toFixed(0));
  return `${micros('client')} / ${micros('upstream')} / ${micros('gateway')} / ${micros('children')}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  return rows.map((row) => row.map((cell, col) => cell.padEnd(widths[col])).join('  ').trimEnd()).join('\n');
}

type Report = { options: Options; targets: Target[]; skipped: string[]; results: PathResult[]; comparisons: Comparison[]; setup: SetupResult[]; churn?: ChurnResult };

function printReport({ options, targets, skipped, results, comparisons, setup, churn }: Report): void {
  console.log(machineLine());
  console.log(`mode: ${options.quick ? 'quick' : 'default'}, ${options.runs} runs x ${options.windowMs} ms window, ${options.warmupMs} ms warm-up, each path against the direct path and bare hop of its answer shape${options.profileDir ? ', hub and bare hop under --cpu-prof' : ''}`);
  console.log('paths:');
  for (const target of targets) console.log(`  ${target.path.padEnd(16)} ${target.note}`);
  for (const why of skipped) console.log(`  skipped: ${why}`);
  console.log('');
  const header = ['sessions', 'path', 'calls/s med [min–max]', 'p50 ms med [min–max]', 'p99 ms med [min–max]', 'CPU µs/call client/HTTP upstream/gateway/its children', 'KiB/session', 'errors'];
  const rows = results.map((r) => [
    String(r.sessions),
    r.path,
    formatSpread(r.throughput, 0),
    formatSpread(r.p50, 2),
    formatSpread(r.p99, 2),
    formatCpu(r.cpuPerCallUs),
    r.memoryPerSessionKiB === undefined ? '-' : r.memoryPerSessionKiB.toFixed(0),
    String(r.runs.reduce((sum, run) => sum + run.errors, 0)),
  ]);
  console.log(table([header, ...rows]));
  if (comparisons.length) {
    const ratioRows = comparisons.map((c) => [String(c.sessions), c.path, c.throughputRatio.toFixed(2), c.addedP50Ms.toFixed(2), c.addedP99Ms.toFixed(2)]);
    console.log(`\nagainst direct (direct-json for the -json paths):\n${table([['sessions', 'path', 'calls/s ratio', 'added p50 ms', 'added p99 ms'], ...ratioRows])}`);
    const floorRows = comparisons
      .filter((c) => c.floorThroughputRatio !== undefined)
      .map((c) => [String(c.sessions), c.path, c.floorThroughputRatio!.toFixed(2), c.floorCpuRatio === undefined ? '-' : c.floorCpuRatio.toFixed(2)]);
    if (floorRows.length) {
      console.log(`\nagainst the bare hop (a node:http keep-alive proxy, the floor of one Node hop; bare-hop-json for the -json paths):\n${table([['sessions', 'path', 'calls/s ratio', 'gateway CPU/call ratio'], ...floorRows])}`);
    }
  }
  if (setup.length) {
    const setupRows = setup.map((s) => [s.path, formatSpread(s.ms, 1)]);
    console.log(`\nsession set-up, initialize + first tools/list, ${options.setupRounds} one at a time:\n${table([['path', 'ms med [min–max]'], ...setupRows])}`);
  }
  if (churn) {
    console.log(
      `\nchurn: ${churn.sessions} sessions through the hub (10 at a time: initialize, tools/list, shared + per-session call, DELETE) in ${(churn.elapsedMs / 1000).toFixed(1)} s, ${churn.errors} errors\n` +
        `  hub RSS ${churn.rssBeforeMiB.toFixed(1)} -> ${churn.rssAfterMiB.toFixed(1)} MiB; sessions left ${churn.sessionsLeft}; hub children ${churn.childrenBefore} before, ${churn.childrenAfter} after`,
    );
  }
}

function writeResults(report: Report): void {
  const { options } = report;
  mkdirSync(join(options.out, '..'), { recursive: true });
  const { out: _out, ...settings } = options;
  const cpu = cpus();
  const machine = { cpu: cpu[0]?.model.trim(), cores: cpu.length, node: process.version, platform: platform(), release: release(), loadavgAtStart: loadAtStart, loadavgAtEnd: loadavg()[0] };
  const { results, comparisons, setup, churn, skipped } = report;
  const paths = report.targets.map(({ path, note }) => ({ path, note }));
  writeFileSync(options.out, `${JSON.stringify({ at: new Date().toISOString(), machine, settings, paths, skipped, results, comparisons, setup, churn }, null, 2)}\n`);
  console.log(`\nraw numbers: ${options.out}`);
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

function hubConfig(upstreamUrl: string, jsonUpstreamUrl: string, maxSessions: number): unknown {
  const stdio = { type: 'stdio', command: process.execPath, args: [stdioUpstream, '--stdio'] };
  return {
    servers: {
      up: { type: 'http', url: upstreamUrl },
      upj: { type: 'http', url: jsonUpstreamUrl },
      st: stdio,
      ps: { ...stdio, perSession: true, warm: 1, maxInstances: maxSessions + 20 },
    },
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const token = randomBytes(24).toString('hex');
  const adminToken = randomBytes(24).toString('hex');
  const children: Array<{ stop(): Promise<void> }> = [];
  const skipped: string[] = [];
  try {
    // One upstream per answer shape a Streamable HTTP server may choose: an SSE stream, or one JSON body.
    const upstream = await spawnReady(join(__dirname, 'upstream.js'), []);
    children.push(upstream);
    const jsonUpstream = await spawnReady(join(__dirname, 'upstream.js'), ['--json']);
    children.push(jsonUpstream);
    const targets: Target[] = [];
    const add = (target: Target) => {
      if (options.paths.includes(target.path)) targets.push(target);
    };
    add({ path: 'direct', upstreamPid: upstream.pid, connect: () => connectSession(upstream.url, 'echo', {}), note: 'SDK client -> upstream over Streamable HTTP (SSE answers)' });
    add({ path: 'direct-json', upstreamPid: jsonUpstream.pid, connect: () => connectSession(jsonUpstream.url, 'echo', {}), note: 'SDK client -> upstream over Streamable HTTP (JSON answers)' });
    // Profiled with the hub, so that the profiles of one run can be set side by side.
    const profile = (name: string) => (options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : []);
    for (const [path, to] of [['bare-hop', upstream], ['bare-hop-json', jsonUpstream]] as const) {
      if (!options.paths.includes(path)) continue;
      const hop = await spawnReady(join(__dirname, 'bareHop.js'), ['--target', to.url], { nodeArgs: profile(path) });
      children.push(hop);
      targets.push({ path, pid: hop.pid, upstreamPid: to.pid, connect: () => connectSession(hop.url, 'echo', {}), note: 'SDK client -> a keep-alive node:http reverse proxy (the floor of one Node hop) -> upstream' });
    }

    const wantsHub = options.paths.some((p) => (hubPaths as readonly string[]).includes(p)) || options.churn > 0;
    let hub: ReadyChild | undefined;
    if (wantsHub) {
      const nodeArgs = profile('hub');
      const config = JSON.stringify(hubConfig(upstream.url, jsonUpstream.url, Math.max(...options.sessions, connectConcurrency)));
      hub = await spawnReady(join(__dirname, 'hubProcess.js'), [], { nodeArgs, env: { HUB_BENCH_TOKEN: token, HUB_BENCH_ADMIN_TOKEN: adminToken, HUB_BENCH_CONFIG: config } });
      children.unshift(hub); // stopped first: it holds a session on the upstreams
      const hubUrl = `${hub.url}/mcp`;
      const headers = { authorization: `Bearer ${token}` };
      const viaHub = (path: PathName, tool: string, note: string, upstreamPid?: number): Target => ({ path, pid: hub!.pid, upstreamPid, connect: () => connectSession(hubUrl, tool, headers), note });
      add(viaHub('hub', 'up__echo', 'SDK client -> hub /mcp -> one shared Streamable HTTP connection to the upstream (SSE answers)', upstream.pid));
      add(viaHub('hub-json', 'upj__echo', 'SDK client -> hub /mcp -> one shared Streamable HTTP connection to the upstream (JSON answers)', jsonUpstream.pid));
      add(viaHub('hub-stdio', 'st__echo', 'SDK client -> hub /mcp -> one shared stdio child of the upstream program'));
      add(viaHub('hub-per-session', 'ps__echo', 'SDK client -> hub /mcp -> a stdio child per session (perSession, warm 1)'));
    }

    const results: PathResult[] = [];
    const setup: SetupResult[] = [];
    const peers = options.paths.filter((p): p is PeerName => (peerNames as readonly string[]).includes(p));
    const measureTargets = async (batch: Target[]) => {
      for (const target of batch) setup.push(await measureSetup(target, options.setupRounds));
      for (const n of options.sessions) results.push(...(await measureSize(n, batch, options)));
    };
    await measureTargets(targets);

    // Peers one at a time, each in front of its own stdio upstream and stopped after: with a
    // child per session, all of them open at once would hold hundreds of upstream processes.
    for (const name of peers) {
      let peer: RunningPeer | undefined;
      try {
        peer = await startPeer(name, { command: process.execPath, args: [stdioUpstream, '--stdio'] });
      } catch (error) {
        skipped.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      try {
        const running = peer;
        const target: Target = {
          path: name,
          pid: running.pid,
          connect: () => connectSession(running.url, running.tool, running.headers, running.transport),
          note: `SDK client -> ${name} ${running.version} (${running.transport}) -> stdio upstream, ${running.childPerSession ? 'a child per session' : 'one shared child'}`,
        };
        targets.push(target);
        await measureTargets([target]);
      } finally {
        await peer.stop();
      }
    }

    let churn: ChurnResult | undefined;
    if (hub && options.churn > 0) {
      const running = hub;
      churn = await measureChurn(options.churn, running, adminToken, () => connectSession(`${running.url}/mcp`, 'up__echo', { authorization: `Bearer ${token}` }));
    }
    const report: Report = { options, targets, skipped, results, comparisons: compare(results), setup, churn };
    console.log('');
    printReport(report);
    writeResults(report);
  } finally {
    for (const child of children) await child.stop();
  }
  if (options.profileDir) console.log(`CPU profiles of the hub and the bare hop written to ${options.profileDir} (hub.cpuprofile, bare-hop.cpuprofile, bare-hop-json.cpuprofile)`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
