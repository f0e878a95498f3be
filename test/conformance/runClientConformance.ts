/**
 * Runs the conformance suite's client scenarios with the hub as the client: for each, the
 * suite starts its scenario server and runs `hubAsClient.js`, which starts the headless hub
 * with that server as its upstream, signs in through the hub and calls the tools through it.
 * One scenario at a time (each starts a hub); prints a table of scenario and result.
 *
 * As a script: `node out/test/conformance/runClientConformance.js [scenario…]`.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ensureModernNode, findRepoRoot } from '../support/modernNode';
import { conformanceCliPath, judgeChecks, runBounded, type Check, type ScenarioResult } from './runConformance';

/** The scenarios issue 24 names: the auth suite of 2025-11-25 and 2025-03-26, and four others. */
export const hubClientScenarios = [
  'initialize',
  'tools_call',
  'sse-retry',
  'elicitation-sep1034-client-defaults',
  'auth/metadata-default',
  'auth/metadata-var1',
  'auth/metadata-var2',
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-from-www-authenticate',
  'auth/scope-from-scopes-supported',
  'auth/scope-omitted-when-undefined',
  'auth/scope-step-up',
  'auth/scope-retry-limit',
  'auth/token-endpoint-auth-basic',
  'auth/token-endpoint-auth-post',
  'auth/token-endpoint-auth-none',
  'auth/pre-registration',
  'auth/2025-03-26-oauth-metadata-backcompat',
  'auth/2025-03-26-oauth-endpoint-fallback',
];

const SCENARIO_TIMEOUT_MS = 60_000;

async function findChecks(dir: string): Promise<string | undefined> {
  if (!existsSync(dir)) return undefined;
  for (const entry of await fs.readdir(dir, { recursive: true })) {
    if (path.basename(entry) === 'checks.json') return path.join(dir, entry);
  }
  return undefined;
}

/** Runs one client scenario with the hub as the client; passes when no check failed and the client exited 0. */
export async function runHubClientScenario(scenario: string, outputRoot: string): Promise<ScenarioResult & { seconds: number }> {
  const started = Date.now();
  const node = await ensureModernNode(22);
  const cli = conformanceCliPath('@modelcontextprotocol/conformance');
  const client = path.join(__dirname, 'hubAsClient.js');
  const outputDir = path.join(outputRoot, scenario.replace(/\//g, '_'));
  await fs.mkdir(outputDir, { recursive: true });
  const outcome = await runBounded(node, [cli, 'client', '--command', `${node} ${client}`, '--scenario', scenario, '--timeout', String(SCENARIO_TIMEOUT_MS - 10_000), '-o', outputDir], outputDir, SCENARIO_TIMEOUT_MS);
  await fs.writeFile(path.join(outputDir, 'cli-stderr.txt'), outcome.stderr);
  const seconds = (Date.now() - started) / 1000;
  const file = await findChecks(outputDir);
  if (!file) return { name: scenario, passed: false, detail: `no checks.json (CLI exit ${outcome.code}${outcome.timedOut ? ', timed out' : ''})`, seconds };
  const judged = judgeChecks(scenario, JSON.parse(await fs.readFile(file, 'utf8')) as Check[]);
  const clientFailed = /Client exited with code [1-9]/.test(outcome.stderr) && !/scope-retry-limit/.test(scenario);
  return { ...judged, passed: judged.passed && !clientFailed, ...(clientFailed ? { detail: `client exited non-zero${judged.detail ? `; ${judged.detail}` : ''}` } : {}), seconds };
}

export function formatTable(results: (ScenarioResult & { seconds: number })[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  return results.map((r) => `${r.name.padEnd(width)}  ${r.passed ? 'PASS' : 'FAIL'}  ${r.seconds.toFixed(1).padStart(5)} s${r.detail ? `  ${r.detail}` : ''}`).join('\n');
}

async function main(): Promise<number> {
  const chosen = process.argv.slice(2);
  const scenarios = chosen.length > 0 ? chosen : hubClientScenarios;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outputRoot = path.join(findRepoRoot(), 'test-results', 'conformance-client', `run-${stamp}`);
  const results = [];
  for (const scenario of scenarios) {
    const result = await runHubClientScenario(scenario, outputRoot);
    console.log(`${result.passed ? 'PASS' : 'FAIL'} ${scenario}`);
    results.push(result);
  }
  console.log(`\n${formatTable(results)}\n\n${results.filter((r) => r.passed).length}/${results.length} passed; output in ${outputRoot}`);
  return results.every((r) => r.passed) ? 0 : 1;
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
