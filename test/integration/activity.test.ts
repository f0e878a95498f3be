import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { ActivityRecord } from '../../src/core/infra/activity';
import { validateConfig } from '../../src/core/config/config';
import { runHub, type RunningHub } from '../../src/http/runHub';
import { runActivity } from '../../src/cli/activityCommand';
import { buildTree, type TreeNode } from '../../src/ui/treeModel';
import { adminAuth, connectClient, demoUpstream, firstText, passthroughFixture, tempDir, testAdminToken, testLogger, testToken, waitFor } from '../support/hubHarness';
import { parsePromText, sampleValue } from '../support/promText';
import { spawnReady, type ReadyChild } from '../support/readyChild';

const secret = 'hunter2-do-not-log-me';
const customSecret = 'custom-redacted-value-42';

async function startHub(config: unknown, auditFolder: string): Promise<RunningHub> {
  const running = await runHub({ config: validateConfig(config, 'test config'), token: testToken, adminToken: testAdminToken, logger: testLogger(), port: 0, auditFolder, env: {} });
  await waitFor(() => running.hub.state().upstreams.every((u) => u.state === 'ready'), 10_000, 'upstreams ready');
  return running;
}

function auditRecords(folder: string): ActivityRecord[] {
  const files = readdirSync(folder)
    .filter((name) => name.endsWith('.jsonl'))
    .sort((a, b) => (b === 'activity.jsonl' ? -1 : a === 'activity.jsonl' ? 1 : b.localeCompare(a)));
  return files.flatMap((name) =>
    readFileSync(join(folder, name), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as ActivityRecord),
  );
}

function allText(folder: string): string {
  return readdirSync(folder)
    .map((name) => readFileSync(join(folder, name), 'utf8'))
    .join('\n');
}

describe('activity: records, audit trail and /metrics', function () {
  let running: RunningHub;
  let folder: string;
  const clients: Client[] = [];
  before(async () => {
    folder = join(tempDir(), 'audit');
    running = await startHub(
      {
        servers: { demo: demoUpstream() },
        virtualServers: { editor: { upstreams: ['demo'], naming: 'bare' } },
        hub: { activity: { redact: ['nickname'] } },
      },
      folder,
    );
  });
  after(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await running?.close();
  });

  const approver = (answer: 'once' | 'deny') => (client: Client) => client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { decision: answer } }));

  it('records one call per request with the right outcome, counts it in /metrics and keeps masked values out of every consumer', async function () {
    const alice = await connectClient(running.gateway.url, { virtualServer: 'editor', name: 'alice' });
    const bob = await connectClient(running.gateway.url, { virtualServer: 'editor', name: 'bob', capabilities: { elicitation: { form: {} } }, beforeConnect: approver('once') });
    const carol = await connectClient(running.gateway.url, { virtualServer: 'editor', name: 'carol', capabilities: { elicitation: { form: {} } }, beforeConnect: approver('deny') });
    clients.push(alice, bob, carol);

    const created = await alice.callTool({ name: 'create_item', arguments: { title: 'alice owns this' } });
    const id = (created.structuredContent as { id: string }).id;
    await alice.callTool({ name: 'echo', arguments: { text: 'hello', password: secret, nested: { apiKey: secret, nickname: customSecret } } });
    const refused = await bob.callTool({ name: 'delete_item', arguments: { id } }); // alice's: refused, never asked
    assert.equal(refused.isError, true);
    const approved = await bob.callTool({ name: 'delete_item', arguments: { id: 'nobody-owns-this' } }); // asked, approved once
    const denied = await carol.callTool({ name: 'delete_item', arguments: { id: 'nobody-owns-that' } }); // asked, denied
    assert.equal(denied.isError, true);
    assert.ok(approved);
    await alice.readResource({ uri: 'demo://readme' });
    await alice.getPrompt({ name: 'summarize_items', arguments: { style: 'short' } });

    const calls = running.hub.activity.records().filter((r) => r.kind === 'call');
    const byTool = (tool: string, client: string) => calls.filter((r) => r.tool === tool && r.client === client).map((r) => r.outcome);
    assert.deepEqual(byTool('create_item', 'alice'), ['ok']);
    assert.deepEqual(byTool('echo', 'alice'), ['ok']);
    assert.deepEqual(byTool('delete_item', 'bob'), ['refused', 'asked→once']);
    assert.deepEqual(byTool('delete_item', 'carol'), ['asked→deny']);
    assert.deepEqual(byTool('demo://readme', 'alice'), ['ok']);
    assert.deepEqual(byTool('summarize_items', 'alice'), ['ok']);
    const echo = calls.find((r) => r.tool === 'echo');
    assert.deepEqual(echo?.args, { text: 'hello', password: '[redacted]', nested: { apiKey: '[redacted]', nickname: '[redacted]' } });
    const approvedRecord = calls.find((r) => r.outcome === 'asked→once');
    assert.match(approvedRecord?.digest ?? '', /^[0-9a-f]{64}$/);
    assert.equal(approvedRecord?.virtualServer, 'editor');
    assert.equal(approvedRecord?.upstream, 'demo');
    assert.ok(typeof approvedRecord?.latencyMs === 'number');
    // The verdicts and the approvals have their own records, with what was judged.
    const verdicts = running.hub.activity.records().filter((r) => r.kind === 'safe-mode');
    assert.ok(verdicts.some((r) => r.outcome === 'refused' && r.identifiers?.some((i) => i.includes(id))));
    assert.deepEqual(
      running.hub.activity
        .records()
        .filter((r) => r.kind === 'approval')
        .map((r) => r.outcome),
      ['asked', 'once', 'asked', 'deny'],
    );
    assert.equal(running.hub.activity.records().filter((r) => r.kind === 'session' && r.outcome === 'started').length, 3);

    // The admin route serves the ring buffer (admin token only), filtered.
    const refusedToClient = await fetch(`${running.gateway.url}/admin/activity`, { headers: { authorization: `Bearer ${testToken}` } });
    assert.equal(refusedToClient.status, 403);
    const listed = (await (await fetch(`${running.gateway.url}/admin/activity?kind=call&tool=delete_item`, { headers: adminAuth })).json()) as { records: ActivityRecord[]; audit: { path: string; dropped: number } };
    assert.deepEqual(
      listed.records.map((r) => r.outcome),
      ['refused', 'asked→once', 'asked→deny'],
    );
    assert.equal(listed.audit.dropped, 0);

    // The audit file: the same call records, on disk, 0600 in a 0700 folder.
    const kept = running.hub.activity.records().length;
    await waitFor(() => existsSync(join(folder, 'activity.jsonl')) && auditRecords(folder).length >= kept, 5000, 'the audit file to catch up');
    const onDisk = auditRecords(folder).filter((r) => r.kind === 'call');
    assert.deepEqual(
      onDisk.map((r) => `${r.client}:${r.tool}:${r.outcome}`),
      calls.map((r) => `${r.client}:${r.tool}:${r.outcome}`),
    );
    assert.equal(statSync(join(folder, 'activity.jsonl')).mode & 0o777, 0o600);
    assert.equal(statSync(folder).mode & 0o777, 0o700);

    // No token and no masked value anywhere: audit file, ring buffer, admin route.
    const ring = JSON.stringify(running.hub.activity.records());
    for (const text of [allText(folder), ring, JSON.stringify(listed)]) {
      for (const needle of [secret, customSecret, testToken, testAdminToken]) assert.ok(!text.includes(needle), `${needle} leaked`);
    }

    // /metrics: admin token only, Prometheus text format, counts matching the calls.
    assert.equal((await fetch(`${running.gateway.url}/metrics`, { headers: { authorization: `Bearer ${testToken}` } })).status, 403);
    const scrape = await fetch(`${running.gateway.url}/metrics`, { headers: adminAuth });
    assert.equal(scrape.status, 200);
    const { types, samples } = parsePromText(await scrape.text());
    assert.equal(types.get('mcp_hub_calls_total'), 'counter');
    assert.equal(types.get('mcp_hub_call_duration_seconds'), 'histogram');
    const count = (tool: string, outcome: string) => sampleValue(samples, 'mcp_hub_calls_total', { upstream: 'demo', tool, outcome });
    assert.equal(count('delete_item', 'refused'), 1);
    assert.equal(count('delete_item', 'asked→once'), 1);
    assert.equal(count('delete_item', 'asked→deny'), 1);
    assert.equal(count('create_item', 'ok'), 1);
    assert.equal(count('echo', 'ok'), 1);
    assert.equal(sampleValue(samples, 'mcp_hub_call_duration_seconds_count', { method: 'tools/call', upstream: 'demo', tool: 'delete_item' }), 3);
    assert.equal(sampleValue(samples, 'mcp_hub_approval_answers_total', { answer: 'once' }), 1);
    assert.equal(sampleValue(samples, 'mcp_hub_approval_answers_total', { answer: 'deny' }), 1);
    assert.ok((sampleValue(samples, 'mcp_hub_safe_mode_decisions_total', { outcome: 'refused' }) ?? 0) >= 1);
    assert.equal(sampleValue(samples, 'mcp_hub_open_sessions'), 3);
    assert.equal(sampleValue(samples, 'mcp_hub_open_chats'), 0);
    assert.equal(sampleValue(samples, 'mcp_hub_open_instances'), 0);
    assert.equal(sampleValue(samples, 'mcp_hub_upstream_up', { upstream: 'demo' }), 1);
    assert.equal(sampleValue(samples, 'mcp_hub_audit_writes_dropped_total'), 0);

    // The tree shows each session's last calls, newest first.
    const flatten = (nodes: TreeNode[]): TreeNode[] => nodes.flatMap((node) => [node, ...flatten(node.children ?? [])]);
    const tree = flatten(buildTree({ ...running.hub.state(), url: running.gateway.url }));
    const bobSession = tree.find((node) => node.contextValue === 'session' && node.label.startsWith('bob'));
    const recent = flatten(bobSession?.children ?? []).find((node) => node.label === 'Recent calls');
    assert.deepEqual(
      recent?.children?.map((node) => node.label),
      ['asked→once · delete_item', 'refused · delete_item'],
    );
  });

  it('records chats, and upstream state changes with the restarts /metrics counts', async function () {
    const erin = await connectClient(running.gateway.url, { virtualServer: 'editor', name: 'erin' });
    clients.push(erin);
    await erin.callTool({ name: 'list_items', arguments: {}, _meta: { 'vscode.conversationId': 'conv-1' } });
    const records = running.hub.activity.records();
    const chatCall = records.find((r) => r.kind === 'call' && r.client === 'erin');
    assert.equal(chatCall?.chat, 'conv-1');
    assert.match(chatCall?.session ?? '', /\/chat:conv-1$/);
    assert.ok(records.some((r) => r.kind === 'chat' && r.outcome === 'started' && r.chat === 'conv-1'));

    const restart = await fetch(`${running.gateway.url}/admin/upstreams/demo/restart`, { method: 'POST', headers: adminAuth });
    assert.equal(restart.status, 202);
    await waitFor(() => running.hub.activity.records().some((r) => r.kind === 'upstream' && r.upstream === 'demo' && r.outcome === 'ready'), 10_000, 'the upstream to be ready again');
    const states = running.hub.activity
      .records()
      .filter((r) => r.kind === 'upstream' && r.upstream === 'demo')
      .map((r) => r.outcome);
    assert.deepEqual(states.slice(-2), ['starting', 'ready']);
    const { samples } = parsePromText(await (await fetch(`${running.gateway.url}/metrics`, { headers: adminAuth })).text());
    assert.equal(sampleValue(samples, 'mcp_hub_upstream_restarts_total', { upstream: 'demo' }), 1);
    assert.equal(sampleValue(samples, 'mcp_hub_open_chats'), 1);
  });

  it("keeps /metrics' label sets to the upstreams' own tools: a client's made-up tool names add none", async function () {
    const mallory = await connectClient(running.gateway.url, { virtualServer: 'editor', name: 'mallory' });
    clients.push(mallory);
    const scrape = async () => parsePromText(await (await fetch(`${running.gateway.url}/metrics`, { headers: adminAuth })).text()).samples;
    const seriesBefore = (await scrape()).filter((sample) => sample.name === 'mcp_hub_calls_total').length;
    for (let i = 0; i < 50; i++) {
      await assert.rejects(mallory.callTool({ name: `made-up-${i}-${Math.random().toString(36).slice(2)}`, arguments: {} }), /Unknown tool/);
    }
    const samples = await scrape();
    const calls = samples.filter((sample) => sample.name === 'mcp_hub_calls_total');
    // The refusals are counted, under one label set without a tool: a name the hub does not serve is no label.
    assert.ok(calls.length <= seriesBefore + 1, `${calls.length - seriesBefore} new series for 50 made-up names`);
    assert.ok(!JSON.stringify(calls).includes('made-up'));
    assert.equal(sampleValue(samples, 'mcp_hub_calls_total', { upstream: '', tool: '', outcome: 'error' }), 50);
  });

  it('`mcp-session-hub activity` reads the audit trail, filtered, and follows the running hub without repeating what it printed', async function () {
    // What the hub has recorded so far is on disk first (the audit trail writes in batches).
    const kept = running.hub.activity.records().length;
    await waitFor(() => auditRecords(folder).length >= kept, 5000, 'the audit file to catch up');
    const defaults = { port: 1, adminTokenEnvVar: 'UNSET_FOR_THIS_TEST', adminTokenFile: join(tempDir(), 'none'), auditFolder: folder };
    const lines: string[] = [];
    assert.equal(await runActivity(['--tool', 'delete_item', '--kind', 'call', '--json'], defaults, (text) => lines.push(text)), 0);
    assert.deepEqual(
      lines.join('').trim().split('\n').map((line) => (JSON.parse(line) as ActivityRecord).outcome),
      ['refused', 'asked→once', 'asked→deny'],
    );
    const table: string[] = [];
    await runActivity(['--outcome', 'refused', '--kind', 'call'], defaults, (text) => table.push(text));
    assert.match(table.join(''), /refused +demo\/delete_item/);

    const followed: string[] = [];
    const stop = new AbortController();
    const following = runActivity(['--follow', '--json', '--kind', 'call', '--tool', 'list_items', '--url', running.gateway.url, '--admin-token', testAdminToken], defaults, (text) => followed.push(text), stop.signal);
    const alice = await connectClient(running.gateway.url, { virtualServer: 'editor', name: 'dave' });
    clients.push(alice);
    await alice.callTool({ name: 'list_items', arguments: {} });
    await waitFor(() => followed.join('').includes('"dave"'), 5000, 'the followed record');
    stop.abort();
    assert.equal(await following, 0);
    const records = followed.join('').trim().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as ActivityRecord);
    // Erin's call from the file (and not again from the hub's buffer), then Dave's as it happened.
    assert.deepEqual(
      records.map((r) => [r.tool, r.client, r.outcome]),
      [
        ['list_items', 'erin', 'ok'],
        ['list_items', 'dave', 'ok'],
      ],
    );
  });
});

/** An OTLP/HTTP receiver on loopback: what the hub's exporter POSTs, by path. */
async function startReceiver(): Promise<{ url: string; bodies: { path: string; type: string; body: Buffer }[]; close(): Promise<void> }> {
  const bodies: { path: string; type: string; body: Buffer }[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', type: String(req.headers['content-type']), body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type OtlpSpan = { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: { key: string; value: { stringValue?: string; intValue?: string } }[] };

describe('activity: OpenTelemetry', function () {
  let web: ReadyChild;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  before(async () => {
    web = await spawnReady(passthroughFixture, ['--http', '--port', '0'], { env: { FIXTURE_EVENT_LOG: join(tempDir(), 'web.log') } });
    receiver = await startReceiver();
  });
  after(async () => {
    await web?.stop();
    await receiver?.close();
  });

  it("puts a SERVER span in the caller's trace, a CLIENT span under it, and the CLIENT span's context in the HTTP upstream's _meta and headers (http/json)", async function () {
    const folder = join(tempDir(), 'audit');
    const running = await startHub(
      { servers: { web: { type: 'http', url: web.url } }, virtualServers: { web: { upstreams: ['web'], naming: 'bare' } }, hub: { telemetry: { endpoint: receiver.url, protocol: 'http/json' } } },
      folder,
    );
    try {
      const client = await connectClient(running.gateway.url, { virtualServer: 'web' });
      const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
      const callerSpan = '00f067aa0ba902b7';
      const seen = JSON.parse(firstText(await client.callTool({ name: 'trace', arguments: { token: secret }, _meta: { traceparent: `00-${callerTrace}-${callerSpan}-01` } }))) as {
        meta: { traceparent: string };
        headers: { traceparent: string };
      };
      await client.close();
      await running.hub.telemetry.flush();
      await waitFor(() => receiver.bodies.some((b) => b.path === '/v1/traces'), 10_000, 'spans to arrive');
      const spans = receiver.bodies
        .filter((b) => b.path === '/v1/traces')
        .flatMap((b) => (JSON.parse(b.body.toString('utf8')) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
      const server = spans.find((s) => s.kind === 2);
      const clientSpan = spans.find((s) => s.kind === 3);
      assert.ok(server && clientSpan, JSON.stringify(spans));
      assert.equal(server.traceId, callerTrace);
      assert.equal(server.parentSpanId, callerSpan);
      assert.equal(server.name, 'tools/call trace');
      const attribute = (span: OtlpSpan, key: string) => span.attributes.find((a) => a.key === key)?.value.stringValue;
      assert.equal(attribute(server, 'mcp.method.name'), 'tools/call');
      assert.equal(attribute(server, 'gen_ai.tool.name'), 'trace');
      assert.ok(attribute(server, 'mcp.session.id'));
      assert.ok(attribute(server, 'jsonrpc.request.id'));
      assert.equal(attribute(server, 'network.transport'), 'tcp');
      assert.equal(clientSpan.traceId, callerTrace);
      assert.equal(clientSpan.parentSpanId, server.spanId);
      // The upstream saw the CLIENT span's context, in _meta and as the W3C header.
      assert.equal(seen.meta.traceparent, `00-${callerTrace}-${clientSpan.spanId}-01`);
      assert.equal(seen.headers.traceparent, seen.meta.traceparent);
      // The call's record carries the trace id; no masked value reached the spans.
      assert.equal(running.hub.activity.records().find((r) => r.kind === 'call')?.traceId, callerTrace);
      const exported = receiver.bodies.map((b) => b.body.toString('utf8')).join('\n');
      for (const needle of [secret, testToken, testAdminToken]) assert.ok(!exported.includes(needle), `${needle} leaked into the spans`);
    } finally {
      await running.close();
    }
  });

  it('takes the caller\'s context from the traceparent header when _meta has none (direct path and SDK path alike)', async function () {
    receiver.bodies.length = 0;
    const running = await startHub(
      { servers: { web: { type: 'http', url: web.url } }, virtualServers: { web: { upstreams: ['web'], naming: 'bare' } }, hub: { telemetry: { endpoint: receiver.url, protocol: 'http/json' } } },
      join(tempDir(), 'audit'),
    );
    try {
      const callerTrace = '0af7651916cd43dd8448eb211c80319c';
      const callerSpan = 'b7ad6b7169203331';
      const client = await connectClient(running.gateway.url, { virtualServer: 'web', headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` } });
      const seen = JSON.parse(firstText(await client.callTool({ name: 'trace', arguments: {} }))) as { meta: { traceparent: string } };
      await client.close();
      assert.match(seen.meta.traceparent, new RegExp(`^00-${callerTrace}-[0-9a-f]{16}-01$`));
      await running.hub.telemetry.flush();
      await waitFor(() => receiver.bodies.some((b) => b.path === '/v1/traces'), 10_000, 'spans to arrive');
      const spans = receiver.bodies
        .filter((b) => b.path === '/v1/traces')
        .flatMap((b) => (JSON.parse(b.body.toString('utf8')) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
      const server = spans.find((s) => s.kind === 2 && s.name === 'tools/call trace');
      assert.equal(server?.traceId, callerTrace);
      assert.equal(server?.parentSpanId, callerSpan);
    } finally {
      await running.close();
    }
  });

  it('exports over http/protobuf too, and starts a new root trace for a call without a traceparent', async function () {
    receiver.bodies.length = 0;
    const running = await startHub({ servers: { web: { type: 'http', url: web.url } }, virtualServers: { web: { upstreams: ['web'], naming: 'bare' } }, hub: { telemetry: { endpoint: receiver.url } } }, join(tempDir(), 'audit'));
    try {
      const client = await connectClient(running.gateway.url, { virtualServer: 'web' });
      const seen = JSON.parse(firstText(await client.callTool({ name: 'trace', arguments: {} }))) as { meta: { traceparent: string } };
      await client.close();
      await running.hub.telemetry.flush();
      await waitFor(() => receiver.bodies.some((b) => b.path === '/v1/traces'), 10_000, 'spans to arrive');
      const body = receiver.bodies.find((b) => b.path === '/v1/traces');
      assert.equal(body?.type, 'application/x-protobuf');
      const traceId = /^00-([0-9a-f]{32})-/.exec(seen.meta.traceparent)?.[1];
      assert.ok(traceId);
      assert.equal(running.hub.activity.records().find((r) => r.kind === 'call')?.traceId, traceId);
      assert.ok(body.body.includes(Buffer.from(traceId, 'hex')), 'the protobuf spans carry the trace id the upstream saw');
    } finally {
      await running.close();
    }
  });

  it('is off without an endpoint: no span, no trace id, and the caller\'s traceparent reaches the upstream unchanged', async function () {
    const running = await startHub({ servers: { web: { type: 'http', url: web.url } }, virtualServers: { web: { upstreams: ['web'], naming: 'bare' } } }, join(tempDir(), 'audit'));
    try {
      assert.equal(running.hub.telemetry.enabled, false);
      const client = await connectClient(running.gateway.url, { virtualServer: 'web' });
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const seen = JSON.parse(firstText(await client.callTool({ name: 'trace', arguments: {}, _meta: { traceparent } }))) as { meta: { traceparent: string } };
      await client.close();
      assert.equal(seen.meta.traceparent, traceparent);
      assert.equal(running.hub.activity.records().find((r) => r.kind === 'call')?.traceId, undefined);
    } finally {
      await running.close();
    }
  });
});
