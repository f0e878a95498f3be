import { appendFileSync } from 'node:fs';

const eventLog = process.env.FIXTURE_EVENT_LOG;

/**
 * For fixtures: appends one event, with this process's pid, to `FIXTURE_EVENT_LOG` as a JSON
 * line (nothing when it is unset). Synchronous, so the event is on disk before anything the call
 * sends next. Tests read the log with `readJsonLines` (hubHarness).
 */
export function recordEvent(event: Record<string, unknown>): void {
  if (eventLog) appendFileSync(eventLog, `${JSON.stringify({ pid: process.pid, ...event })}\n`);
}
