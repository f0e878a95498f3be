import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A node child (an upstream, a hub, a fixture) that printed its `{"event":"ready","url":…}` line. */
export type ReadyChild = { url: string; pid: number; stop(): Promise<void> };

const readyTimeoutMs = 20_000;
const stopGraceMs = 8_000;

/** Children still running; killed hard if this process exits first, so none outlive their owner. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts `node [nodeArgs] script [args]` and resolves with the URL of its
 * `{"event":"ready","url":...}` line. stdin stays a pipe: the child exits when it closes.
 */
export function spawnReady(script: string, args: string[], options: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<ReadyChild> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...options.env },
  });
  live.add(child);
  child.once('exit', () => live.delete(child));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${script} not ready after ${readyTimeoutMs} ms`)), readyTimeoutMs);
    const onExit = (code: number | null) => fail(new Error(`${script} exited (${code}) before it was ready`));
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.kill('SIGKILL');
      reject(error);
    };
    child.once('exit', onExit);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const ready = parseReadyLine(line);
      if (!ready) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      lines.close();
      resolve({ url: ready, pid: child.pid!, stop: () => stopChild(child) });
    });
  });
}

function parseReadyLine(line: string): string | undefined {
  try {
    const parsed = JSON.parse(line) as { event?: string; url?: string };
    return parsed.event === 'ready' && typeof parsed.url === 'string' ? parsed.url : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM (a clean exit lets `--cpu-prof` write its file), SIGKILL after a grace period. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), stopGraceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
