import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { deserializeMessage, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { defaultSettings } from '../core/config/config';
import { LineBuffer } from './lineBuffer';
import { holdWatchdog, newFamilyMarker } from './familyWatchdog';
import { familyEnvName, ProcessTree } from './processTree';

export type GroupStdioParameters = {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Most bytes buffered while a line is incomplete; past it the upstream is closed (and restarted by its owner). */
  maxMessageBytes?: number;
};

/** How long a child may take to exit on its own once its stdin is closed. */
const stdinCloseGraceMs = 2_000;

/**
 * The SDK's stdio client transport, but it ends the child's whole process tree (POSIX): the
 * SDK's ends only the child it spawned, and a server that starts a browser leaves the browser's
 * processes behind. Here closing, and the child's own crash, end everything it started. The
 * child leads a process group of its own, its descendants are recorded as they appear, and it
 * carries a family marker in its environment that its descendants inherit (Linux: found by
 * /proc/<pid>/environ, even for a setsid daemon whose parent has exited). A watchdog process
 * ends the family if the hub dies without doing it (`familyWatchdog.ts`).
 * Framing: the SDK's `serializeMessage` and `deserializeMessage`, lines split by `LineBuffer` (bounded, linear).
 */
export class GroupStdioTransport implements Transport {
  private child?: ChildProcess;
  private tree?: ProcessTree;
  private readonly lines: LineBuffer;
  private closing?: Promise<void>;
  /** Settles once the child has exited and the rest of its family has been ended. */
  private familyEnded?: Promise<void>;
  /** The child's stderr, available before `start()` so no early line is lost. */
  readonly stderr = new PassThrough();

  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  constructor(private readonly params: GroupStdioParameters) {
    this.lines = new LineBuffer(params.maxMessageBytes ?? defaultSettings.maxUpstreamMessageBytes);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    if (this.child) throw new Error('GroupStdioTransport already started');
    return new Promise((resolve, reject) => {
      const family = newFamilyMarker();
      // Held from before the spawn until the family has ended: a hub killed in between is covered.
      const releaseWatchdog = holdWatchdog();
      const child = spawn(this.params.command, this.params.args, {
        env: { ...getDefaultEnvironment(), ...this.params.env, [familyEnvName]: family },
        cwd: this.params.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        shell: false,
      });
      this.child = child;
      child.once('error', (error) => {
        if (!this.tree) releaseWatchdog(); // never started
        reject(error);
        this.onerror?.(error);
      });
      child.once('spawn', () => {
        // Recorded as it grows, so a crash cannot hide what the child started.
        this.tree = new ProcessTree(child.pid as number, family);
        this.tree.track();
        resolve();
      });
      // 'exit', not 'close': a grandchild that inherited stdout would hold 'close' back.
      child.once('exit', () => {
        this.tree?.untrack();
        this.child = undefined;
        // Whatever the child left running (crash or not) goes with it.
        this.familyEnded = (this.tree?.endRest() ?? Promise.resolve()).catch(() => undefined).finally(releaseWatchdog);
        this.onclose?.();
      });
      child.stdin?.on('error', (error) => this.onerror?.(error));
      child.stdout?.on('data', (chunk: Buffer) => {
        let lines: string[];
        try {
          lines = this.lines.push(chunk);
        } catch (error) {
          // One message over the limit: the upstream goes (its calls fail with this reason) and its
          // owner starts it again. What it still writes is not read.
          child.stdout?.removeAllListeners('data');
          child.stdout?.resume();
          this.onerror?.(error as Error);
          void this.close();
          return;
        }
        this.deliver(lines);
      });
      child.stderr?.pipe(this.stderr);
    });
  }

  private deliver(lines: string[]): void {
    for (const line of lines) {
      let message: JSONRPCMessage;
      try {
        message = deserializeMessage(line);
      } catch (error) {
        this.onerror?.(error as Error);
        continue;
      }
      this.onmessage?.(message);
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin) {
        reject(new Error('not connected'));
        return;
      }
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  /**
   * Ends the child's own children first (so it can reap them), then closes its stdin (the polite
   * way to stop an MCP server), then ends whatever is left of the group.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    const child = this.child;
    const tree = this.tree;
    if (!child?.pid || !tree) {
      await this.familyEnded; // exited already: its family is being ended
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const exitWithin = (ms: number) => Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, ms).unref())]);
    await tree.endChildren();
    child.stdin?.end();
    await exitWithin(stdinCloseGraceMs);
    if (this.child) {
      child.kill('SIGTERM');
      await exitWithin(stdinCloseGraceMs);
      if (this.child) {
        child.kill('SIGKILL');
        await exitWithin(stdinCloseGraceMs);
      }
    }
    // The exit handler ends the rest of the tree and the family; a child that somehow outlived
    // SIGKILL's grace still gets the rest of its tree ended here.
    await (this.familyEnded ?? tree.endRest());
    this.lines.clear();
  }
}
