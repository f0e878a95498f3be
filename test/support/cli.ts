import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The bundled CLI (`npm run build` makes it), as `mcp-session-hub` runs. */
export const cliPath = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

/** The line `serve --json` prints when ready. */
export type CliReady = { event: string; url: string; tokenFile: string | null; adminTokenFile: string | null; endpoints: Record<string, string>; pid: number };

export type CliRun = { child: ChildProcess; ready: Promise<CliReady>; stderr: () => string; exit: Promise<number | null> };

/** The CLI's environment: the tests' own, without token variables a developer's shell may set. */
const cliEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({ ...process.env, MCP_SESSION_HUB_TOKEN: '', MCP_SESSION_HUB_ADMIN_TOKEN: '', ...env });

/**
 * Starts `mcp-session-hub <args>`; `ready` is its first stdout line as JSON (give it `--json`),
 * rejected when the CLI exits first or prints something else. The caller stops the child.
 */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv(env) });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<CliReady>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => {
      try {
        resolve(JSON.parse(line) as CliReady);
      } catch {
        reject(new Error(`the CLI's first line is not its JSON ready line: ${line}`));
      }
    });
    void exit.then((code) => reject(new Error(`cli exited with ${code}: ${stderr}`)));
  });
  return { child, ready, stderr: () => stderr, exit };
}

/**
 * Runs the CLI to its exit, with stdout and stderr. A run still going after `limitMs` (serving
 * when it should not) is stopped, SIGTERM then SIGKILL, and reported as such.
 */
export async function runCliToExit(args: string[], env: NodeJS.ProcessEnv = {}, limitMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv(env) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let timer: NodeJS.Timeout | undefined;
  const overran = new Promise<'overran'>((resolve) => (timer = setTimeout(() => resolve('overran'), limitMs)));
  try {
    const code = await Promise.race([exit, overran]);
    if (code === 'overran') throw new Error(`mcp-session-hub ${args.join(' ')} was still running after ${limitMs} ms: ${stdout}${stderr}`);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(killer);
    }
  }
}
