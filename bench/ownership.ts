/**
 * What keeping ownership costs a call: the p50 latency of a creating call (`create_item`, whose
 * result's id becomes the session's) and of a read-only one (`get_item`), through three hubs side
 * by side in one run: ownership in memory only (the baseline), in the embedded journal (synced to
 * disk per claim), and in Redis (Debian's redis-server, started here; skipped when missing).
 * Rounds alternate between the hubs so they share the machine's state. `npm run bench:ownership`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { validateConfig } from '../src/core/config/config';
import { silentLogger } from '../src/core/infra/logger';
import { demoServerPath, runHub, type RunningHub } from '../src/http/runHub';
import { hasRedisServer, startRedis, type RedisServer } from '../test/support/redisServer';
import { formatSpread, spread } from './spread';

const quick = process.argv.includes('--quick');
const rounds = quick ? 3 : 7;
const callsPerRound = quick ? 100 : 300;
const token = 'bench-token-0123456789';
const adminToken = 'bench-admin-token-9876543210';

type Mode = { name: string; hub: RunningHub; client: Client; create: number[]; read: number[] };

function p50(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function start(name: string, ledger: Record<string, unknown> | undefined, ledgerPath?: string): Promise<Mode> {
  const config = validateConfig({ servers: { demo: { command: process.execPath, args: [demoServerPath()] } }, virtualServers: { vs: { upstreams: ['demo'], naming: 'bare' } }, ...(ledger ? { ledger } : {}) }, 'bench');
  const hub = await runHub({ config, token, adminToken, logger: silentLogger, port: 0, ...(ledgerPath ? { ledgerPath } : {}) });
  const deadline = Date.now() + 15_000;
  while (hub.hub.state().ownership.problem !== undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const client = new Client({ name: `bench-${name}`, version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${hub.gateway.url}/servers/vs/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return { name, hub, client, create: [], read: [] };
}

async function measure(mode: Mode, calls: number, record: boolean): Promise<void> {
  let id = '';
  for (let i = 0; i < calls; i++) {
    const began = performance.now();
    const created = await mode.client.callTool({ name: 'create_item', arguments: { title: `bench ${i}` } });
    const createMs = performance.now() - began;
    id = (created.structuredContent as { id: string }).id;
    const readBegan = performance.now();
    await mode.client.callTool({ name: 'get_item', arguments: { id } });
    const readMs = performance.now() - readBegan;
    if (record) {
      mode.create.push(createMs);
      mode.read.push(readMs);
    }
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ownership-'));
  let redis: RedisServer | undefined;
  const modes: Mode[] = [await start('memory only', undefined), await start('embedded journal', undefined, join(dir, 'ownership.journal'))];
  if (hasRedisServer()) {
    redis = await startRedis(dir);
    modes.push(await start('redis', { store: 'redis', url: redis.url }));
  } else {
    console.log('redis-server is not installed: the Redis row is skipped');
  }
  try {
    for (const mode of modes) await measure(mode, 50, false); // warm-up
    const perRound = new Map<string, { create: number[]; read: number[] }>(modes.map((mode) => [mode.name, { create: [], read: [] }]));
    for (let round = 0; round < rounds; round++) {
      for (const mode of modes) {
        mode.create = [];
        mode.read = [];
        await measure(mode, callsPerRound, true);
        perRound.get(mode.name)?.create.push(p50(mode.create));
        perRound.get(mode.name)?.read.push(p50(mode.read));
      }
    }
    const base = perRound.get('memory only');
    console.log(`ownership bench: ${rounds} rounds x ${callsPerRound} calls per hub, p50 per round in ms, median [min-max] over rounds`);
    console.log('| store | create_item p50 | added vs memory | get_item (read-only) p50 | added vs memory |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const mode of modes) {
      const figures = perRound.get(mode.name);
      if (!figures || !base) continue;
      const addedCreate = figures.create.map((value, index) => value - (base.create[index] ?? value));
      const addedRead = figures.read.map((value, index) => value - (base.read[index] ?? value));
      console.log(`| ${mode.name} | ${formatSpread(spread(figures.create), 2)} | ${formatSpread(spread(addedCreate), 2)} | ${formatSpread(spread(figures.read), 2)} | ${formatSpread(spread(addedRead), 2)} |`);
    }
  } finally {
    for (const mode of modes) {
      await mode.client.close().catch(() => undefined);
      await mode.hub.close();
    }
    await redis?.stop();
  }
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
