import { readFileSync } from 'node:fs';

/** Whether a process runs, is a zombie (dead, not reaped), or is gone. */
export function processState(pid: number): 'alive' | 'zombie' | 'gone' {
  if (process.platform === 'linux') {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return 'gone';
    }
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state === 'Z' || state === 'X' ? 'zombie' : 'alive';
  }
  try {
    process.kill(pid, 0);
    return 'alive';
  } catch {
    return 'gone';
  }
}
