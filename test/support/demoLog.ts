import { existsSync, readFileSync } from 'node:fs';

export type DemoCall = { tool: string; arguments: Record<string, unknown>; pid: number };

/** The tools/call requests the demo upstream received (DEMO_REQUEST_LOG), in order. */
export function readDemoLog(file: string): DemoCall[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as DemoCall);
}
