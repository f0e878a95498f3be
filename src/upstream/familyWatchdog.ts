import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { familyEnvName } from './processTree';

/** This hub process's run: every family marker it hands out starts with `${hubRunId}.`. */
export const hubRunId = `${process.pid}-${randomBytes(6).toString('hex')}`;
let families = 0;

/** A fresh family marker for the next stdio upstream child (the value of `familyEnvName`). */
export function newFamilyMarker(): string {
  return `${hubRunId}.${++families}`;
}

/** How long the watchdog waits between SIGTERM and SIGKILL. */
const watchdogGraceMs = 2_000;

/**
 * The watchdog, run as `node -e` (no file to find, so it works the same from out/, from the
 * esbuild bundle in dist/ and from the VSIX). Arguments: the marker's variable name, this hub
 * run's prefix, the grace in ms. It waits for its stdin to close. "exit" on stdin means the hub
 * ended its families itself: it just exits. EOF without it means the hub died without cleaning
 * up (SIGKILL, OOM, a crash): it ends every process of this user whose environment carries the
 * prefix (SIGTERM, then SIGKILL after the grace), then exits. Each round scans afresh, so a pid
 * reused by a process without the marker is never signalled.
 */
const watchdogScript = String.raw`// mcp-session-hub family watchdog (what ps shows first)
'use strict';
const fs = require('fs');
const [name, prefix, graceMs] = process.argv.slice(1);
const needle = '\0' + name + '=' + prefix;
const uid = process.getuid();
function family() {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!(pid > 0) || pid === process.pid) continue;
    try {
      if (fs.statSync('/proc/' + entry).uid !== uid) continue;
      const stat = fs.readFileSync('/proc/' + entry + '/stat', 'latin1');
      const state = stat.charAt(stat.lastIndexOf(')') + 2);
      if (state === 'Z' || state === 'X') continue;
      if (('\0' + fs.readFileSync('/proc/' + entry + '/environ', 'latin1')).includes(needle)) pids.push(pid);
    } catch {}
  }
  return pids;
}
function signal(pids, sig) {
  for (const pid of pids) {
    try { process.kill(pid, sig); } catch {}
  }
}
let ending = false;
function endFamily() {
  if (ending) return;
  ending = true;
  signal(family(), 'SIGTERM');
  const deadline = Date.now() + Number(graceMs);
  let killRounds = 0;
  const poll = () => {
    const left = family();
    if (left.length === 0 || killRounds >= 10) process.exit(0);
    if (Date.now() < deadline) return void setTimeout(poll, 100);
    signal(left, 'SIGKILL');
    killRounds++;
    setTimeout(poll, 100);
  };
  setTimeout(poll, 100);
}
let told = '';
process.stdin.on('data', (chunk) => {
  told += chunk;
  if (told.includes('exit')) process.exit(0);
});
process.stdin.on('end', endFamily);
process.stdin.on('error', endFamily);
`;

let watchdog: ChildProcess | undefined;
let holders = 0;

/**
 * Keeps this hub run's watchdog running until the returned release is called (Linux; elsewhere
 * nothing). Every stdio upstream holds it from before its child starts until its family has
 * ended, so a hub that dies without cleaning up (SIGKILL, OOM) still takes its upstreams'
 * families along: the watchdog sees its stdin close and ends every process carrying this run's
 * marker prefix. When the last holder lets go (a normal shutdown, after the hub ended every
 * family itself) the watchdog is told to exit, so it is not left behind either.
 */
export function holdWatchdog(): () => void {
  if (process.platform !== 'linux') return () => undefined;
  holders++;
  watchdog ??= startWatchdog();
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--holders === 0) stopWatchdog();
  };
}

function startWatchdog(): ChildProcess | undefined {
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, ['-e', watchdogScript, familyEnvName, `${hubRunId}.`, String(watchdogGraceMs)], {
      // Its own process group and session: a Ctrl+C or a hang-up meant for the hub must not end it.
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      // No family marker, no NODE_OPTIONS of the host; Electron (VS Code's extension host) runs it as Node.
      env: { ELECTRON_RUN_AS_NODE: '1' },
      cwd: '/',
    });
  } catch {
    return undefined; // today's behaviour: no watchdog
  }
  const forget = () => {
    if (watchdog === child) watchdog = undefined;
  };
  child.once('error', forget);
  child.once('exit', forget);
  child.stdin?.on('error', () => undefined);
  // Neither the process nor the pipe keeps the hub alive: the pipe closes when the hub exits.
  child.unref();
  (child.stdin as Socket | null)?.unref();
  return child;
}

function stopWatchdog(): void {
  const child = watchdog;
  watchdog = undefined;
  child?.stdin?.end('exit\n');
}
