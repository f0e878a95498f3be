/**
 * The CPU one call's activity costs inside the hub, without the noise of HTTP and other
 * processes: a `CallRecord` made, routed and ended (record built, masked, kept in the ring,
 * counted by prom-client), with the audit trail off or on (to a temporary folder), and with
 * OpenTelemetry off or on (SERVER and CLIENT span, OTLP/HTTP protobuf export to a loopback
 * receiver that answers 200). `node out/bench/activityMicro.js`.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActivityLog, defaultActivitySettings } from '../src/core/infra/activity';
import { silentLogger } from '../src/core/infra/logger';
import type { Connection, LogicalSession } from '../src/core/sessions/sessions';
import { AuditTrail } from '../src/hub/auditTrail';
import { CallRecord } from '../src/hub/callRecord';
import { HubMetrics } from '../src/hub/hubMetrics';
import { Telemetry } from '../src/hub/telemetry';

const calls = 50_000;
const session = { id: 'key:bench' } as LogicalSession;
const connection = { id: 'c1', transport: 'streamable-http', session, client: { name: 'bench', version: '1' } } as unknown as Connection;

async function measure(name: string, telemetry: Telemetry, audit: boolean): Promise<number> {
  const log = new ActivityLog(defaultActivitySettings);
  const metrics = new HubMetrics(log, () => {
    throw new Error('not scraped here');
  });
  const trail = audit ? new AuditTrail(mkdtempSync(join(tmpdir(), 'bench-audit-')), defaultActivitySettings.audit, silentLogger) : undefined;
  const subscription = trail ? log.onDidAdd((record) => trail.append(record)) : undefined;
  const once = (i: number) => {
    const record = new CallRecord(log, telemetry, { method: 'tools/call', target: 'echo', virtualServer: 'vs', connection, requestId: i, meta: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
    record.routed('up', 'echo', { text: `call ${i}`, apiKey: 'not-logged' }, session);
    const span = record.trace?.client('tools/call', 'echo', 'up');
    span?.end();
    record.succeeded({ content: [{ type: 'text', text: `call ${i}` }] });
  };
  for (let i = 0; i < 10_000; i++) once(i);
  await trail?.flush();
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    once(i);
    // Let timers and the exporter run now and then, as they would between a hub's calls.
    if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await trail?.flush();
  await telemetry.flush();
  const used = process.cpuUsage(start);
  subscription?.dispose();
  await trail?.close();
  metrics.dispose();
  const perCall = (used.user + used.system) / calls;
  console.log(`${name.padEnd(34)} ${perCall.toFixed(1)} µs/call`);
  return perCall;
}

async function main(): Promise<void> {
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  console.log(`CPU of the activity pipeline per tools/call, ${calls} calls (this process, receiver included)`);
  for (let round = 0; round < 2; round++) {
    await measure('records + metrics (audit off)', Telemetry.off(), false);
    await measure('records + metrics + audit (default)', Telemetry.off(), true);
    const telemetry = Telemetry.create({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }, { metricsIntervalMs: 5_000 }, 'bench');
    await measure('… + OpenTelemetry on', telemetry, true);
    await telemetry.shutdown();
  }
  receiver.close();
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
