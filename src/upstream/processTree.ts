import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';

/**
 * The environment variable that marks a stdio upstream's family: the child gets
 * `<hub run>.<child>`, and every process it starts inherits it unless it builds its own
 * environment. Ending a family ends every process of this user that carries the exact marker
 * (Linux: /proc/<pid>/environ), besides the process group and the recorded tree. Jenkins'
 * ProcessTreeKiller does the same (its BUILD_ID / JENKINS_NODE_COOKIE variable), for the same reason: a daemon that
 * double-forks and calls setsid leaves both the process group and its parent links (its parent
 * exits, it goes to init), so neither finds it, but it keeps its environment.
 * A process that clears or rewrites its own environment (`env -i`, setproctitle over environ)
 * escapes the marker; only the group and the recorded tree can find it then.
 */
export const familyEnvName = 'MCP_SESSION_HUB_FAMILY';

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

/** A process's start time in clock ticks since boot (Linux), or 0 if it cannot be read. */
function startOf(pid: number): number {
  if (process.platform !== 'linux') return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) || 0;
  } catch {
    return 0;
  }
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

/**
 * Live processes of this user whose environment carries `familyEnvName=marker` exactly, as pid →
 * start time (Linux; elsewhere none). Entries we may not read are skipped. Only processes started
 * no earlier than `since` (the family root's start, in clock ticks) can carry it, so only their
 * environments are read: on a desktop that is a handful, not every process.
 */
function familyMembers(marker: string, since: number): Map<number, string> {
  const members = new Map<number, string>();
  if (process.platform !== 'linux') return members;
  const uid = process.getuid?.();
  const needle = `\0${familyEnvName}=${marker}\0`;
  for (const entry of fromProc()) {
    if (Number(entry.start) < since) continue;
    try {
      if (statSync(`/proc/${entry.pid}`).uid !== uid) continue;
      if (`\0${readFileSync(`/proc/${entry.pid}/environ`, 'latin1')}\0`.includes(needle)) members.set(entry.pid, entry.start);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return members;
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
 * shared by all tracked trees, and before closing), and what was recorded is ended with it.
 * With a family marker (Linux), whatever carries it is ended too, which finds what the timer
 * missed: a daemon started and detached between two scans. Records carry the start time, so a
 * pid reused by an unrelated process is left alone.
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

  /** When the root started (clock ticks since boot; 0 if unknown): no family member is older. */
  private readonly rootStart: number;

  /** `family`: the value of `familyEnvName` the root was started with, if any. */
  constructor(
    readonly root: number,
    private readonly family?: string,
  ) {
    this.rootStart = family ? startOf(root) : 0;
  }

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

  /** Adds the live processes carrying the family marker to the record. */
  private recordFamily(): void {
    if (!this.family) return;
    for (const [pid, start] of familyMembers(this.family, this.rootStart)) if (pid !== this.root) this.known.set(pid, start);
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

  /**
   * Ends whatever is left of the tree and the family: SIGTERM, then SIGKILL after `graceMs`.
   * The family is looked up before each round, not while polling (each lookup reads the
   * environment of every process younger than the root), so what a member started during the
   * grace goes too.
   */
  async endRest(graceMs = 2_000): Promise<void> {
    if (process.platform === 'win32') return;
    this.recordFamily();
    const rest = this.alive();
    if (rest.length === 0) return;
    for (const entry of rest) signal(entry.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (this.alive().length > 0 && Date.now() < deadline) await sleep(25);
    this.recordFamily();
    for (const entry of this.alive()) signal(entry.pid, 'SIGKILL');
  }
}
