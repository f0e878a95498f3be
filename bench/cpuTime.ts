import { readFileSync } from 'node:fs';

/** CPU (user + system) of each bench process, in microseconds; undefined where it cannot be read. */
export type CpuSnapshot = Record<string, number | undefined>;

/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s ticks on every mainstream kernel. */
const ticksPerSecond = 100;

/** CPU time of another process from /proc (Linux only); 10 ms resolution, enough over a window. */
function childCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return Number.isFinite(ticks) ? (ticks * 1e6) / ticksPerSecond : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads this process (the load generator) and the named children; with `childrenOf`, also the
 * sum over that process's live descendants as `children` (the stdio upstreams a gateway runs).
 */
export function cpuSnapshot(children: ReadonlyMap<string, number>, childrenOf?: { pid: number; descendants: (pid: number) => number[] }): CpuSnapshot {
  const own = process.cpuUsage();
  const snapshot: CpuSnapshot = { client: own.user + own.system };
  for (const [name, pid] of children) snapshot[name] = childCpuMicros(pid);
  if (childrenOf) snapshot.children = childrenOf.descendants(childrenOf.pid).reduce((sum, pid) => sum + (childCpuMicros(pid) ?? 0), 0);
  return snapshot;
}

/** CPU microseconds per call of each process between two snapshots. */
export function cpuPerCall(before: CpuSnapshot, after: CpuSnapshot, calls: number): CpuSnapshot {
  const perCall: CpuSnapshot = {};
  for (const name of Object.keys(after)) {
    const start = before[name];
    const end = after[name];
    perCall[name] = start === undefined || end === undefined || calls === 0 ? undefined : (end - start) / calls;
  }
  return perCall;
}
