import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Live (not zombie) processes of a process group. A stdio upstream runs in a group of its own, so
 * this is the whole tree it started (a browser with its helpers, say), even after the leader died
 * and its children were re-parented.
 */
export function liveGroupMembers(pgid: number): number[] {
  return liveMembers(pgid).map((member) => member.pid);
}

type Member = { pid: number; ppid: number };

function liveMembers(pgid: number): Member[] {
  return process.platform === 'linux' ? fromProc(pgid) : fromPs(pgid);
}

function fromProc(pgid: number): Member[] {
  const members: Member[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push({ pid: Number(entry), ppid: Number(fields[1]) });
  }
  return members;
}

function fromPs(pgid: number): Member[] {
  try {
    const out = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat='], { encoding: 'utf8' });
    return out
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([pid, , group, state]) => pid && Number(group) === pgid && !state?.startsWith('Z'))
      .map(([pid, ppid]) => ({ pid: Number(pid), ppid: Number(ppid) }));
  } catch {
    return [];
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nobody left in the group.
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the group has no live member; false if some are still there after `ms`. */
async function groupGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (liveGroupMembers(pgid).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}

/**
 * Ends every process of a group: SIGTERM first, so each parent can shut down and reap its own
 * children (a parent killed outright leaves its children to init), then SIGKILL what is left.
 */
export async function endProcessGroup(pgid: number, graceMs = 2_000): Promise<void> {
  if (process.platform === 'win32' || liveGroupMembers(pgid).length === 0) return;
  signalGroup(pgid, 'SIGTERM');
  if (await groupGone(pgid, graceMs)) return;
  signalGroup(pgid, 'SIGKILL');
  await groupGone(pgid, graceMs);
}

/**
 * Ends the leader's own children (each with its subtree) while the leader still lives to reap
 * them. A child that outlives its parent is re-parented to init, and where init does not reap
 * (some containers) it stays a zombie.
 */
export async function endChildrenOf(leader: number, graceMs = 2_000): Promise<void> {
  if (process.platform === 'win32') return;
  const children = () => liveMembers(leader).filter((member) => member.ppid === leader).map((member) => member.pid);
  const first = children();
  if (first.length === 0) return;
  for (const pid of first) signalPid(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (children().length > 0 && Date.now() < deadline) await sleep(25);
  for (const pid of children()) signalPid(pid, 'SIGKILL');
}
