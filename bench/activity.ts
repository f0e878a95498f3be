/**
 * What the activity log, the audit trail and OpenTelemetry cost a call: hub CPU µs per
 * `tools/call` (echo over a shared Streamable HTTP upstream) for hub processes side by side:
 *   - base:      another build of the hub (`--base-cli PATH`, e.g. the commit before issue 25), if given;
 *   - quiet:     this hub with the audit trail off and OpenTelemetry off (ring buffer and counters only);
 *   - default:   this hub as shipped: audit trail on, OpenTelemetry off;
 *   - otel:      audit trail on, OpenTelemetry on (OTLP/HTTP protobuf to a loopback receiver here,
 *                every span exported, metrics every 5 s).
 * Rounds alternate the hubs (ABCD DCBA …) so they share the machine's state. Build first
 * (`node esbuild.mjs && tsc -p .`), then `node out/bench/activity.js [--quick] [--base-cli PATH]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBenchClient, type BenchClient } from './benchClient';
import { cpuPerCall, cpuSnapshot } from './cpuTime';
import { formatSpread, spread } from './spread';
import { startUpstream } from './upstream';

const quick = process.argv.includes('--quick');
const rounds = quick ? 4 : 10;
const callsPerRound = quick ? 300 : 1000;
const baseIndex = process.argv.indexOf('--base-cli');
const baseCli = baseIndex > 0 ? process.argv[baseIndex + 1] : undefined;
const cli = join(__dirname, '..', '..', 'dist', 'cli.js');
const token = 'bench-token-0123456789';
const adminToken = 'bench-admin-token-9876543210';

type Hub = { name: string; child: ChildProcess; pid: number; client: BenchClient; cpu: number[] };

async function startHub(name: string, script: string, config: unknown, env: NodeJS.ProcessEnv): Promise<Hub> {
  const dir = mkdtempSync(join(tmpdir(), `bench-activity-${name}-`));
  const configPath = join(dir, 'hub.json');
  writeFileSync(configPath, JSON.stringify(config));
  const child = spawn(process.execPath, [script, 'serve', '--config', configPath, '--port', '0', '--json', '--token', token, '--admin-token', adminToken, '--token-file', join(dir, 'token'), '--log-level', 'warn'], {
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (const line of buffer.split('\n')) {
        if (line.startsWith('{') && line.includes('"ready"')) resolve(JSON.parse(line) as { url: string; pid: number });
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  const client = await connectBenchClient(`${ready.url}/servers/vs/mcp`, 'streamable-http', { authorization: `Bearer ${token}` }, `bench-${name}`);
  return { name, child, pid: ready.pid, client, cpu: [] };
}

async function main(): Promise<void> {
  const upstream = await startUpstream();
  let spans = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/v1/traces') spans++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const otlp = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const servers = { up: { type: 'http', url: upstream.url } };
  const virtualServers = { vs: { upstreams: ['up'], naming: 'bare' } };
  const hubs: Hub[] = [];
  if (baseCli) hubs.push(await startHub('base', baseCli, { servers, virtualServers }, {}));
  hubs.push(await startHub('quiet', cli, { servers, virtualServers, hub: { activity: { audit: { enabled: false } } } }, {}));
  hubs.push(await startHub('default', cli, { servers, virtualServers }, {}));
  hubs.push(await startHub('otel', cli, { servers, virtualServers, hub: { telemetry: { endpoint: otlp, metricsInterval: 5 } } }, {}));

  const run = async (hub: Hub, calls: number) => {
    for (let i = 0; i < calls; i++) await hub.client.client.callTool({ name: 'echo', arguments: { text: `call ${i}`, apiKey: 'not-logged' } });
  };
  for (const hub of hubs) await run(hub, 200); // warm-up
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? hubs : [...hubs].reverse();
    for (const hub of order) {
      const pids = new Map([['hub', hub.pid]]);
      const before = cpuSnapshot(pids);
      await run(hub, callsPerRound);
      const after = cpuSnapshot(pids);
      hub.cpu.push(cpuPerCall(before, after, callsPerRound).hub ?? NaN);
    }
  }
  const baseline = spread(hubs.find((hub) => hub.name === (baseCli ? 'base' : 'quiet'))?.cpu ?? []).median;
  console.log(`hub CPU µs per tools/call, median [min–max] of ${rounds} rounds of ${callsPerRound} calls; OTLP requests received: ${spans}`);
  for (const hub of hubs) {
    const s = spread(hub.cpu);
    console.log(`${hub.name.padEnd(8)} ${formatSpread(s, 0).padEnd(22)} ${(((s.median - baseline) / baseline) * 100).toFixed(1).padStart(6)}% vs ${baseCli ? 'base' : 'quiet'}`);
  }
  for (const hub of hubs) {
    await hub.client.close();
    hub.child.kill('SIGTERM');
  }
  receiver.close();
  await upstream.close();
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
