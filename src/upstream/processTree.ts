import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** One process as the OS lists it; `start` tells a pid apart from a later process that reuses it. */
type ProcessEntry = { pid: number; ppid: number; pgid: number; start: string };

/** Every live (not zombie) process. Linux reads /proc; elsewhere `ps`. */
function listProcesses(): ProcessEntry[] {
  return process.platform === 'linux' ? fromProc() : fromPs();
}

function fromProc(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ... starttime(22nd)": comm may hold spaces, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') continue;
    entries.push({ pid: Number(name), ppid: Number(fields[1]), pgid: Number(fields[2]), start: fields[19] });
  }
  return entries;
}

function fromPs(): ProcessEntry[] {
  try {
    const out = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat='], { encoding: 'utf8' });
    return out
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([pid, , , state]) => pid && !state?.startsWith('Z'))
      .map(([pid, ppid, pgid]) => ({ pid: Number(pid), ppid: Number(ppid), pgid: Number(pgid), start: '' }));
  } catch {
    return [];
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The processes a child started, directly or not. A server may start helpers in process groups
 * of their own (Playwright starts its browser detached), and a helper whose parent died is
 * re-parented, losing the link: so the tree is recorded while the links exist (on a timer
 * shared by all tracked trees, and before closing), and what was recorded is ended with it. Records carry the start
 * time, so a pid reused by an unrelated process is left alone.
 */
/** How often the tracked trees are recorded: one scan of the process table serves them all. */
const recordIntervalMs = 2_000;
const tracked = new Set<ProcessTree>();
let recordTimer: NodeJS.Timeout | undefined;

/** Parent → children, from one scan of the process table. */
function childrenByParent(): Map<number, ProcessEntry[]> {
  const children = new Map<number, ProcessEntry[]>();
  for (const entry of listProcesses()) {
    const siblings = children.get(entry.ppid);
    if (siblings) siblings.push(entry);
    else children.set(entry.ppid, [entry]);
  }
  return children;
}

function recordTracked(): void {
  const children = childrenByParent();
  for (const tree of tracked) tree.record(children);
}

export class ProcessTree {
  private readonly known = new Map<number, string>();

  constructor(readonly root: number) {}

  /** Records this tree on the shared timer until `untrack()`. */
  track(): void {
    if (process.platform === 'win32') return;
    tracked.add(this);
    if (!recordTimer) {
      recordTimer = setInterval(recordTracked, recordIntervalMs);
      recordTimer.unref();
    }
  }

  untrack(): void {
    tracked.delete(this);
    if (tracked.size === 0) {
      clearInterval(recordTimer);
      recordTimer = undefined;
    }
  }

  /** Adds the root's current descendants to the record (from `children`, or a fresh scan). */
  record(children?: Map<number, ProcessEntry[]>): void {
    if (process.platform === 'win32') return;
    children ??= childrenByParent();
    const queue = [this.root];
    while (queue.length > 0) {
      for (const child of children.get(queue.pop() as number) ?? []) {
        this.known.set(child.pid, child.start);
        queue.push(child.pid);
      }
    }
  }

  /** Recorded descendants still running, with the root's process group, as pid and parent. */
  private alive(): ProcessEntry[] {
    return listProcesses().filter((entry) => entry.pid !== this.root && (entry.pgid === this.root || this.known.get(entry.pid) === entry.start));
  }

  /**
   * Ends the root's direct children while the root still lives to reap them (each shuts its own
   * subtree down on SIGTERM): a process that outlives its parent goes to init, and where init
   * does not reap (some containers) it stays a zombie.
   */
  async endChildren(graceMs = 2_000): Promise<void> {
    this.record();
    const children = () => this.alive().filter((entry) => entry.ppid === this.root);
    if (children().length === 0) return;
    for (const child of children()) signal(child.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (children().length > 0 && Date.now() < deadline) await sleep(25);
    for (const child of children()) signal(child.pid, 'SIGKILL');
  }

  /** Ends whatever is left of the tree: SIGTERM, then SIGKILL after `graceMs`. */
  async endRest(graceMs = 2_000): Promise<void> {
    if (process.platform === 'win32') return;
    const rest = this.alive();
    if (rest.length === 0) return;
    for (const entry of rest) signal(entry.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (this.alive().length > 0 && Date.now() < deadline) await sleep(25);
    for (const entry of this.alive()) signal(entry.pid, 'SIGKILL');
  }
}
