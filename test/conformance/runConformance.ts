/**
 * Runs the `@modelcontextprotocol/conformance` server scenarios against an MCP
 * Streamable HTTP endpoint and reports one result per scenario.
 *
 * The CLI needs Node >= 22, so it runs under the binary from
 * ensureModernNode(); it writes one `checks.json` per scenario into the output
 * directory, which is what we parse (stdout is only a fallback for scenarios
 * that crashed before writing one).
 *
 * As a script (`node out/test/conformance/runConformance.js`) it starts the
 * conformance fixture over HTTP, runs every scenario against it and stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureModernNode, findRepoRoot } from '../support/modernNode';
import { spawnReady, type ReadyChild } from '../support/readyChild';

export interface ScenarioResult {
  name: string;
  passed: boolean;
  /** Failed checks (and warnings) in one line; absent when everything was clean. */
  detail?: string;
}

export interface ConformanceRun {
  scenarios: ScenarioResult[];
  passed: number;
  failed: number;
}

export interface ConformanceOptions {
  /** Where the CLI writes its per-scenario results; default test-results/conformance/run-<time>. */
  outputDir?: string;
  /** Bound for the whole CLI run; the child is killed when it expires. */
  timeoutMs?: number;
  /** Package that provides the CLI (default the pinned release; 'conformance-next' is the pinned pre-release). */
  cliPackage?: string;
  /** `--spec-version` for both listing and running, e.g. '2025-11-25' to leave out a pre-release's draft-spec scenarios. */
  specVersion?: string;
  /** Run this one scenario (`--scenario`) instead of the whole suite. */
  scenario?: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const KILL_GRACE_MS = 2_000;
const LIST_TIMEOUT_MS = 30_000;

/** Compiled fixture, for callers that spawn it themselves (e.g. behind the hub over stdio). */
export const CONFORMANCE_FIXTURE_SCRIPT = path.join(__dirname, '..', 'fixtures', 'conformanceServer.js');

// ---------------------------------------------------------------------------
// Child process plumbing
// ---------------------------------------------------------------------------

/** Children still running; killed if this process exits first so none outlive us. */
const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveChildren) {
    child.kill('SIGKILL');
  }
});

function track(child: ChildProcess): ChildProcess {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess): Promise<void> {
  return hasExited(child) ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL if the child ignores it. */
async function terminate(child: ChildProcess): Promise<void> {
  if (hasExited(child)) {
    return;
  }
  child.kill('SIGTERM');
  const escalation = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  await waitForExit(child);
  clearTimeout(escalation);
}

interface ProcessOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command to completion, killing it if it outlives `timeoutMs`. */
export async function runBounded(command: string, args: string[], cwd: string, timeoutMs: number): Promise<ProcessOutcome> {
  const child = track(spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void terminate(child);
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  }).finally(() => clearTimeout(timer));
  return { code, stdout, stderr, timedOut };
}

// ---------------------------------------------------------------------------
// Conformance CLI
// ---------------------------------------------------------------------------

export function conformanceCliPath(cliPackage: string): string {
  const manifestPath = require.resolve(`${cliPackage}/package.json`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version: string; bin: Record<string, string> };
  const bin = manifest.bin['conformance'];
  if (bin === undefined) {
    throw new Error(`${cliPackage}@${manifest.version} has no "conformance" bin`);
  }
  return path.join(path.dirname(manifestPath), bin);
}

/** Names printed by `conformance list --server` as "  - name [versions]". */
function parseScenarioList(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => /^\s+-\s+(\S+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

async function listServerScenarios(node: string, cli: string, cwd: string, filter: string[]): Promise<string[]> {
  const outcome = await runBounded(node, [cli, 'list', '--server', ...filter], cwd, LIST_TIMEOUT_MS);
  const names = parseScenarioList(outcome.stdout);
  if (outcome.code !== 0 || names.length === 0) {
    throw new Error(`conformance list --server failed (code ${outcome.code}): ${outcome.stderr.trim().slice(-2000)}`);
  }
  return names;
}

function defaultOutputDir(): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return path.join(findRepoRoot(), 'test-results', 'conformance', `run-${stamp}`);
}

// ---------------------------------------------------------------------------
// Result parsing
// ---------------------------------------------------------------------------

export interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | string;
  description?: string;
  errorMessage?: string;
}

/** The CLI names result folders `server-<scenario>-<ISO time with : and . as ->`. */
const RESULT_DIR = /^server-(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)$/;

/** Newest checks.json per scenario found under `outputDir`. */
async function collectCheckFiles(outputDir: string): Promise<Map<string, string>> {
  const newest = new Map<string, { stamp: string; file: string }>();
  for (const entry of await fs.readdir(outputDir)) {
    const match = RESULT_DIR.exec(entry);
    const file = path.join(outputDir, entry, 'checks.json');
    if (!match?.[1] || !match[2] || !existsSync(file)) {
      continue;
    }
    const known = newest.get(match[1]);
    if (!known || known.stamp < match[2]) {
      newest.set(match[1], { stamp: match[2], file });
    }
  }
  return new Map([...newest].map(([name, { file }]) => [name, file]));
}

function describeCheck(check: Check): string {
  return `${check.id}: ${check.errorMessage ?? check.description ?? check.status}`;
}

/** A scenario passes when none of its checks failed; warnings only go into the detail. */
export function judgeChecks(name: string, checks: Check[]): ScenarioResult {
  const failures = checks.filter((check) => check.status === 'FAILURE');
  const warnings = checks.filter((check) => check.status === 'WARNING');
  const notes = [...failures.map(describeCheck), ...warnings.map((check) => `warning ${describeCheck(check)}`)];
  return notes.length > 0 ? { name, passed: failures.length === 0, detail: notes.join('; ') } : { name, passed: true };
}

/** Why a scenario left no checks.json: the CLI's own error line, or the timeout. */
function explainMissing(name: string, outcome: ProcessOutcome, timeoutMs: number): string {
  const crash = outcome.stderr.split('\n').find((line) => line.startsWith(`Failed to run scenario ${name}:`));
  if (crash) {
    return crash;
  }
  if (outcome.timedOut) {
    return `not run: conformance CLI killed after ${timeoutMs} ms`;
  }
  return `no checks.json written (CLI exit code ${outcome.code})`;
}

async function readChecks(file: string): Promise<Check[]> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as Check[];
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/**
 * Runs every conformance server scenario (`--suite all`), or the one named in
 * `opts.scenario`, against `url` and returns one result per scenario run.
 */
export async function runServerConformance(url: string, opts: ConformanceOptions = {}): Promise<ConformanceRun> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const outputDir = path.resolve(opts.outputDir ?? defaultOutputDir());
  await fs.mkdir(outputDir, { recursive: true });
  const node = await ensureModernNode(22);
  const cli = conformanceCliPath(opts.cliPackage ?? '@modelcontextprotocol/conformance');
  const filter = opts.specVersion ? ['--spec-version', opts.specVersion] : [];

  const names = opts.scenario ? [opts.scenario] : await listServerScenarios(node, cli, outputDir, filter);
  const selection = opts.scenario ? ['--scenario', opts.scenario] : ['--suite', 'all'];
  // cwd = outputDir keeps any stray `results/` folder out of the repository.
  const outcome = await runBounded(node, [cli, 'server', '--url', url, ...selection, ...filter, '-o', outputDir], outputDir, timeoutMs);
  await fs.writeFile(path.join(outputDir, 'cli-stdout.txt'), outcome.stdout);
  await fs.writeFile(path.join(outputDir, 'cli-stderr.txt'), outcome.stderr);

  const checkFiles = await collectCheckFiles(outputDir);
  if (checkFiles.size === 0 && !outcome.timedOut) {
    throw new Error(`conformance CLI produced no results (code ${outcome.code}): ${outcome.stderr.trim().slice(-2000)}`);
  }
  const scenarios: ScenarioResult[] = [];
  for (const name of names) {
    const file = checkFiles.get(name);
    scenarios.push(
      file
        ? judgeChecks(name, await readChecks(file))
        : { name, passed: false, detail: explainMissing(name, outcome, timeoutMs) },
    );
  }
  const passed = scenarios.filter((scenario) => scenario.passed).length;
  return { scenarios, passed, failed: scenarios.length - passed };
}

export type RunningFixture = ReadyChild;

/** Starts the conformance fixture in HTTP mode on a free port and waits for its ready line. */
export function startConformanceFixture(): Promise<RunningFixture> {
  return spawnReady(CONFORMANCE_FIXTURE_SCRIPT, ['--http', '--port', '0']);
}

// ---------------------------------------------------------------------------
// Script entry
// ---------------------------------------------------------------------------

function printRun(run: ConformanceRun): void {
  for (const scenario of run.scenarios) {
    const verdict = scenario.passed ? 'PASS' : 'FAIL';
    console.log(`${verdict} ${scenario.name}${scenario.detail ? ` (${scenario.detail})` : ''}`);
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  const fixture = await startConformanceFixture();
  const stopOnSignal = (): void => void fixture.stop().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const run = await runServerConformance(fixture.url);
    printRun(run);
    console.log(`conformance against ${fixture.url} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`${run.passed} passed, ${run.failed} failed`);
    return run.failed === 0 ? 0 : 1;
  } finally {
    await fixture.stop();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
