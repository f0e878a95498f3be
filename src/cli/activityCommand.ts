import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createParser } from 'eventsource-parser';
import { matchesActivity, type ActivityFilter, type ActivityRecord } from '../core/infra/activity';
import { auditFileName } from '../hub/auditTrail';
import { findAdminToken } from './tokenFiles';

export const activityUsage = `  mcp-session-hub activity [--follow] [--session S] [--tool T] [--outcome O] [--upstream U] [--kind K]
                    [--json] [--dir FOLDER] [--url URL] [--admin-token T | --admin-token-file F]
                                            print the audit trail (what each session called, what safe
                                            mode decided, what the human answered); --follow goes on
                                            with the running hub's records as they happen`;

export class ActivityUsageError extends Error {}

type ActivityDefaults = { port: number; adminTokenEnvVar: string; adminTokenFile: string; auditFolder: string };

/** The audit files of a folder, oldest first: `activity.N.jsonl` from the highest N, then `activity.jsonl`. */
export function auditFilesIn(folder: string): string[] {
  if (!existsSync(folder)) return [];
  const rotated = readdirSync(folder)
    .map((name) => ({ name, n: Number(/^activity\.(\d+)\.jsonl$/.exec(name)?.[1]) }))
    .filter((file) => Number.isInteger(file.n))
    .sort((a, b) => b.n - a.n)
    .map((file) => join(folder, file.name));
  const current = join(folder, auditFileName);
  return existsSync(current) ? [...rotated, current] : rotated;
}

/** One record as a line of the table: time, what, outcome, where, how long, whose. */
export function formatRecord(record: ActivityRecord): string {
  const what = record.kind === 'call' ? `${record.upstream ?? '?'}/${record.tool ?? '?'}` : record.kind === 'upstream' ? (record.upstream ?? '') : record.kind === 'session' || record.kind === 'chat' ? record.kind : `${record.kind} ${record.upstream ?? ''}/${record.tool ?? ''}`;
  const latency = record.latencyMs === undefined ? '' : `${record.latencyMs.toFixed(1)} ms`;
  const whose = record.session ?? '';
  const detail = record.detail ? `  ${record.detail.replace(/\s+/g, ' ').slice(0, 160)}` : '';
  return `${record.at}  ${record.outcome.padEnd(14)} ${what.padEnd(36)} ${latency.padStart(10)}  ${whose}${detail}`;
}

/**
 * `mcp-session-hub activity`: reads the audit trail in the hub's state folder (rotated files
 * first), filtered; with `--follow`, then streams the running hub's records from
 * `GET /admin/activity?follow=1` (admin token) until interrupted or `signal` aborts.
 */
export async function runActivity(argv: string[], defaults: ActivityDefaults, out: (text: string) => void, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      follow: { type: 'boolean', short: 'f' },
      session: { type: 'string' },
      tool: { type: 'string' },
      outcome: { type: 'string' },
      upstream: { type: 'string' },
      kind: { type: 'string' },
      json: { type: 'boolean' },
      dir: { type: 'string' },
      url: { type: 'string' },
      'admin-token': { type: 'string' },
      'admin-token-file': { type: 'string' },
    },
    strict: true,
  });
  if (positionals.length > 0) throw new ActivityUsageError(`activity takes no arguments (got '${positionals.join(' ')}')`);
  const filter: ActivityFilter = {};
  for (const name of ['session', 'tool', 'outcome', 'upstream', 'kind'] as const) {
    const value = values[name];
    if (value !== undefined) filter[name] = value;
  }
  const print = (record: ActivityRecord) => out(`${values.json ? JSON.stringify(record) : formatRecord(record)}\n`);

  // What the files hold, remembered by time and number so the live stream does not repeat it.
  const printed = new Set<string>();
  const key = (record: ActivityRecord) => `${record.at}|${record.seq}`;
  for (const file of auditFilesIn(values.dir ?? defaults.auditFolder)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      let record: ActivityRecord;
      try {
        record = JSON.parse(line) as ActivityRecord;
      } catch {
        continue; // a line cut by a crash
      }
      if (!matchesActivity(record, filter)) continue;
      printed.add(key(record));
      print(record);
    }
  }
  if (!values.follow) return 0;

  const baseUrl = (values.url ?? `http://127.0.0.1:${defaults.port}`).replace(/\/+$/, '');
  const token = adminToken(values['admin-token'], defaults, values['admin-token-file']);
  const query = new URLSearchParams({ follow: '1', ...filter });
  let response: Response;
  try {
    response = await fetch(`${baseUrl}/admin/activity?${query}`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, ...(signal ? { signal } : {}) });
  } catch (error) {
    if (signal?.aborted) return 0;
    throw new Error(`no hub answers at ${baseUrl} (${(error as Error).message}); start it with mcp-session-hub serve, or pass --url`);
  }
  if (!response.ok || !response.body) {
    out(`mcp-session-hub activity: the hub answered HTTP ${response.status}: ${await response.text()}\n`);
    return 1;
  }
  const parser = createParser({
    onEvent: (event) => {
      if (event.event === 'activity') {
        const record = JSON.parse(event.data) as ActivityRecord;
        if (!printed.has(key(record))) print(record);
      } else if (event.event === 'missed') {
        out(`(${(JSON.parse(event.data) as { count: number }).count} records skipped: this reader fell behind)\n`);
      } else if (event.event === 'audit') {
        const audit = JSON.parse(event.data) as { dropped?: number; lastError?: string } | null;
        if (audit?.dropped) out(`(the audit trail dropped ${audit.dropped} records${audit.lastError ? `: ${audit.lastError}` : ''})\n`);
      }
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
  return 0;
}

function adminToken(flag: string | undefined, defaults: ActivityDefaults, file: string | undefined): string {
  const path = file ?? defaults.adminTokenFile;
  const token = findAdminToken(flag, defaults.adminTokenEnvVar, path);
  if (token) return token;
  throw new ActivityUsageError(`--follow needs the admin token: pass --admin-token, set $${defaults.adminTokenEnvVar}, or keep it in ${path}`);
}
