import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { firstText, fixturesDir, readJsonLines } from '../../support/hubHarness';

export const hostileFixture = join(fixturesDir, 'hostileFixture.js');

/** The hostile fixture as a stdio upstream, recording its calls in `eventLog`. */
export function hostileUpstream(eventLog: string, extra: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  return { type: 'stdio', command: process.execPath, args: [hostileFixture], env: { FIXTURE_EVENT_LOG: eventLog, ...env }, ...extra };
}

export type HostileEvent = { pid: number; event: string; tool?: string; tag?: string; id?: string; args?: Record<string, unknown>; message?: string };

export function hostileEvents(eventLog: string): HostileEvent[] {
  return readJsonLines<HostileEvent>(eventLog);
}

/** The calls of `tool` that reached the upstream. */
export function callsOf(eventLog: string, tool: string): HostileEvent[] {
  return hostileEvents(eventLog).filter((event) => event.event === 'call' && event.tool === tool);
}

export async function callText(client: Client, name: string, args: Record<string, unknown>): Promise<{ isError: boolean; text: string; structured?: unknown }> {
  const result = await client.callTool({ name, arguments: args });
  return { isError: result.isError === true, text: firstText(result), structured: result.structuredContent };
}
