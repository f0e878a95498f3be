import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  JSONRPCMessageSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { demoUpstream, fixtureUpstream, readRequestLog, startTestHub, tempDir, type TestHub } from '../support/hubHarness';
import { answerMessages, rawInitialize, rawRequest, type RawResponse } from '../support/rawHttp';
import { RawSseSession } from '../support/rawSse';
import { assertNoProcessLeftBehind, Bystanders, checkProperty, descendantsNow, requestTimeoutMs, short } from './reliabilityHarness';

/**
 * Well-delivered JSON-RPC messages with bad content, generated: tools/call variants (bad and
 * foreign names, non-object arguments, extra members, progress tokens, ids of every type),
 * unknown methods, invalid params. The hub answers a plain `tools/call` on a Streamable HTTP
 * session on a fast path of its own (application/json) and everything else through the SDK
 * (an SSE stream; legacy SSE always): each message goes to both transports, and the answers
 * must be the same, with the code MCP gives that mistake.
 */

const inScope = ['up__alpha', 'up__beta'];
const outOfScope = ['up__gamma', 'up__delta', 'alpha', 'gamma', 'demo__echo', 'demo__delete_item', 'up__alpha ', 'UP__ALPHA', 'up__alpha\u0000', 'up/alpha', 'up__', '', '__proto__', 'constructor'];

const nonString = fc.oneof(fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }));
const nonObject = fc.oneof(fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }), fc.string({ maxLength: 10 }), fc.integer(), fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }));
const nastyKey = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'text', ''));
const absent = fc.constant(undefined);

/** One generated tools/call message, before its id is made unique. */
type CallCase = { id: { valid: true; kind: 'int' | 'negative' | 'string'; text: string } | { valid: false; value: unknown }; envelope: string; params: unknown };

const callCases: fc.Arbitrary<CallCase> = fc.record({
  id: fc.oneof(
    { weight: 10, arbitrary: fc.record({ valid: fc.constant(true as const), kind: fc.constantFrom('int' as const, 'negative' as const, 'string' as const), text: fc.string({ maxLength: 12, unit: 'grapheme' }) }) },
    { weight: 1, arbitrary: fc.constantFrom(null, 1.5, true, {}, [], [1]).map((value) => ({ valid: false as const, value })) },
  ),
  envelope: fc.oneof({ weight: 12, arbitrary: fc.constant('valid') }, { weight: 1, arbitrary: fc.constantFrom('extra member', 'jsonrpc 1.0', 'no jsonrpc') }),
  params: fc.oneof(
    {
      weight: 12,
      arbitrary: fc
        .record({
          name: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...inScope) }, { weight: 3, arbitrary: fc.constantFrom(...outOfScope) }, { weight: 2, arbitrary: fc.string({ maxLength: 40, unit: 'grapheme' }) }, { weight: 1, arbitrary: nonString }),
          arguments: fc.oneof(
            { weight: 2, arbitrary: absent },
            { weight: 3, arbitrary: fc.record({ text: fc.string({ maxLength: 50, unit: 'grapheme' }) }) },
            { weight: 1, arbitrary: fc.constant({}) },
            { weight: 1, arbitrary: fc.dictionary(nastyKey, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) },
            { weight: 1, arbitrary: fc.record({ text: nonString }) },
            { weight: 2, arbitrary: nonObject },
          ),
          _meta: fc.oneof(
            { weight: 5, arbitrary: absent },
            { weight: 1, arbitrary: fc.constant({}) },
            { weight: 2, arbitrary: fc.record({ progressToken: fc.oneof(fc.string({ maxLength: 10 }), fc.integer()) }) },
            { weight: 1, arbitrary: fc.record({ progressToken: fc.oneof(fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.constant({})) }) },
            { weight: 1, arbitrary: nonObject },
            { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('io.example/trace', 'x'), fc.jsonValue({ maxDepth: 1 }), { minKeys: 1, maxKeys: 2 }) },
          ),
          extra: fc.oneof({ weight: 4, arbitrary: absent }, { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('extra', 'x-trace', 'cursor', 'uri'), fc.jsonValue({ maxDepth: 1 }), { minKeys: 1, maxKeys: 2 }) }),
        })
        .map(({ extra, ...params }) => {
          const defined = Object.fromEntries(Object.entries(params).filter(([, value]) => value !== undefined));
          return { ...extra, ...defined };
        }),
    },
    { weight: 1, arbitrary: absent },
    { weight: 1, arbitrary: nonObject },
  ),
});

type Outcome = { status: number; answer?: Record<string, unknown>; path?: 'direct' | 'sdk' };

describe('reliability: bad JSON-RPC messages, on both paths and both transports', function () {
  this.timeout(60_000);
  const dir = tempDir('hub-reliability-messages-');
  const requestLog = join(dir, 'up.jsonl');
  let hub: TestHub;
  let bystanders: Bystanders;
  let processesBefore: Set<number>;
  let streamableEndpoint: string;
  let streamableSession: string;
  let sse: RawSseSession;
  let sequence = 0;

  before(async function () {
    processesBefore = descendantsNow();
    hub = await startTestHub({
      servers: { up: fixtureUpstream(requestLog), demo: demoUpstream(join(dir, 'demo.jsonl')) },
      virtualServers: {
        ab: { upstreams: ['up'], tools: ['alpha', 'beta'], resources: ['up/alpha'], resourceTemplates: [], prompts: ['alpha-prompt'] },
        editor: { upstreams: ['demo'], tools: ['*_item', 'list_items'], naming: 'bare' },
      },
    });
    bystanders = await Bystanders.open(hub.url, 'editor');
    streamableEndpoint = `${hub.url}/servers/ab/mcp`;
    streamableSession = await rawInitialize(streamableEndpoint);
    sse = await RawSseSession.open(hub.url, '/servers/ab/sse');
  });
  after(async () => {
    sse?.close();
    await bystanders?.close();
    await hub?.close();
  });

  /** Posts one message on the Streamable HTTP session; which path answered shows in the content type. */
  async function viaStreamable(body: string, id: unknown): Promise<Outcome> {
    const headers = { 'mcp-session-id': streamableSession, 'mcp-protocol-version': '2025-11-25' };
    const response: RawResponse = await rawRequest(streamableEndpoint, { method: 'POST', body, headers, timeoutMs: requestTimeoutMs });
    if (response.status !== 200) return { status: response.status };
    const path = String(response.headers['content-type']).startsWith('application/json') ? 'direct' : 'sdk';
    return { status: 200, path, answer: answerMessages(response).find((message) => JSON.stringify(message.id) === JSON.stringify(id)) };
  }

  /** Posts one message on the legacy SSE session and reads its answer off the stream. */
  async function viaSse(body: string, id: unknown, expectAnswer = true): Promise<Outcome> {
    const response = await sse.post(body);
    if (response.status !== 202 || !expectAnswer) return { status: response.status };
    return { status: 202, answer: await sse.answer(id, requestTimeoutMs) };
  }

  it('answers generated tools/call variants alike on the fast path, the SDK path and legacy SSE, with the fitting code', async function () {
    const paths = { direct: 0, sdk: 0 };
    const outcomes = { transport: 0, invalidParams: 0, unknownTool: 0, result: 0 };
    const logBefore = readRequestLog(requestLog).filter((entry) => entry.method === 'tools/call').length;
    const cases = callCases;
    await checkProperty('tools/call variants', cases, 500, async (generated) => {
      const n = ++sequence;
      const id = generated.id.valid
        ? generated.id.kind === 'string'
          ? `${generated.id.text}#${n}`
          : generated.id.kind === 'negative'
            ? -n
            : n
        : generated.id.value;
      const message: Record<string, unknown> = { jsonrpc: '2.0', id, method: 'tools/call', ...(generated.params === undefined ? {} : { params: generated.params }) };
      if (generated.envelope === 'extra member') message.trace = 'x';
      if (generated.envelope === 'jsonrpc 1.0') message.jsonrpc = '1.0';
      if (generated.envelope === 'no jsonrpc') delete message.jsonrpc;
      const body = JSON.stringify(message);
      const context = `tools/call ${short(message)}`;

      const wellFormed = JSONRPCMessageSchema.safeParse(message).success;
      const streamable = await viaStreamable(body, id);
      const legacy = await viaSse(body, id, wellFormed);
      if (!wellFormed) {
        outcomes.transport++;
        assert.equal(streamable.status, 400, `${context}: Streamable HTTP answered ${streamable.status}`);
        assert.equal(legacy.status, 400, `${context}: legacy SSE answered ${legacy.status}`);
        return;
      }
      assert.equal(streamable.status, 200, context);
      assert.equal(legacy.status, 202, context);
      assert.ok(streamable.answer && streamable.path, `${context}: no answer on Streamable HTTP`);
      paths[streamable.path]++;
      assert.deepEqual(legacy.answer, streamable.answer, `${context}: the ${streamable.path} path and legacy SSE disagree`);

      const { answer } = streamable;
      const error = answer.error as { code: number; message: string } | undefined;
      const params = generated.params as { name?: unknown } | undefined;
      if (!CallToolRequestSchema.safeParse(message).success) {
        outcomes.invalidParams++;
        assert.equal(error?.code, -32602, `${context}: ${short(answer)}`);
      } else if (!inScope.includes(params?.name as string)) {
        outcomes.unknownTool++;
        assert.equal(error?.code, -32602, `${context}: ${short(answer)}`);
        assert.equal(error?.message, `Unknown tool '${String(params?.name)}': not available on virtual server 'ab'`);
      } else {
        outcomes.result++;
        assert.equal(error, undefined, `${context}: ${short(answer)}`);
        assert.ok(Array.isArray((answer.result as { content?: unknown }).content), `${context}: ${short(answer)}`);
      }
      if (error) assert.doesNotMatch(error.message, /\bat .+\.js:\d+/, `${context}: a stack trace`);
    });
    console.log(`      answered on the fast path ${paths.direct}, on the SDK path ${paths.sdk}; ${JSON.stringify(outcomes)}`);
    assert.ok(paths.direct > 50 && paths.sdk > 50, 'both paths should answer a good share of the cases');
    assert.ok(outcomes.transport > 10 && outcomes.invalidParams > 20 && outcomes.unknownTool > 50 && outcomes.result > 50, 'the mix should hold every kind of case');

    // Only calls answered with a result reached the upstream (once per transport), and only tools in scope.
    const reached = readRequestLog(requestLog).filter((entry) => entry.method === 'tools/call').slice(logBefore);
    assert.equal(reached.length, 2 * outcomes.result, 'a refused call reached the upstream, or an answered one did not');
    assert.deepEqual([...new Set(reached.map((entry) => entry.name))].sort(), ['alpha', 'beta']);
    await bystanders.assertUnaffected(hub);
  });

  it('answers generated unknown methods with -32601 on both transports, and takes unknown notifications quietly', async function () {
    const known = new Set([
      'initialize', 'ping', 'tools/list', 'tools/call', 'prompts/list', 'prompts/get', 'resources/list', 'resources/templates/list',
      'resources/read', 'resources/subscribe', 'resources/unsubscribe', 'logging/setLevel', 'completion/complete',
    ]);
    const method = fc
      .oneof(
        fc.string({ maxLength: 40, unit: 'grapheme' }),
        fc
          .tuple(fc.constantFrom('tools/', 'resources/', 'prompts/', 'notifications/', 'sampling/', 'elicitation/', 'roots/', 'tasks/', 'completion/', 'logging/', ''), fc.stringMatching(/^[A-Za-z_/]{0,12}$/))
          .map(([namespace, name]) => namespace + name),
        fc.constantFrom('Tools/List', 'TOOLS/CALL', 'tools/list/', ' ping', 'ping ', 'rpc.discover', 'sampling/createMessage', 'elicitation/create', 'roots/list', 'notifications/initialized', 'tasks/list', 'tasks/get'),
      )
      .filter((name) => !known.has(name));
    const cases = fc.record({
      method,
      notification: fc.boolean(),
      params: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { nil: undefined }),
    });
    let requests = 0;
    await checkProperty('unknown methods', cases, 300, async ({ method: name, notification, params }) => {
      const id = ++sequence;
      const message = { jsonrpc: '2.0', ...(notification ? {} : { id }), method: name, ...(params === undefined ? {} : { params }) };
      const body = JSON.stringify(message);
      const streamable = await viaStreamable(body, id);
      const legacy = await viaSse(body, id, !notification);
      if (notification) {
        assert.equal(streamable.status, 202, `notification ${short(message)} on Streamable HTTP`);
        assert.equal(legacy.status, 202, `notification ${short(message)} on legacy SSE`);
        return;
      }
      requests++;
      for (const [transport, outcome] of [['Streamable HTTP', streamable], ['legacy SSE', legacy]] as const) {
        assert.deepEqual(outcome.answer, { jsonrpc: '2.0', id, error: { code: -32601, message: 'Method not found' } }, `${short(message)} on ${transport}`);
      }
    });
    console.log(`      ${requests} requests, the rest notifications`);
    // Notifications get no answer, but nothing hangs on them: the session still answers.
    assert.equal((await viaSse(JSON.stringify({ jsonrpc: '2.0', id: 'after', method: 'ping' }), 'after')).answer?.result !== undefined, true);
    await bystanders.assertUnaffected(hub);
  });

  it('answers a tools/call whose arguments have a "constructor" key alike on both paths', async function () {
    // zod 4's record check (isPlainObject) rejects an object whose own `constructor` is not a
    // function, so the SDK path refuses such arguments before scope is looked at. The fast path
    // leaves them to the SDK's path, so that whether a call works never depends on the path.
    const cases = fc.record({
      name: fc.constantFrom(...inScope, ...outOfScope),
      constructorValue: fc.jsonValue({ maxDepth: 1 }),
      other: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
    });
    await checkProperty('"constructor" arguments on both paths', cases, 40, async ({ name, constructorValue, other }) => {
      const id = ++sequence;
      const args = { ...other, constructor: constructorValue };
      const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
      const fast = await viaStreamable(body, id);
      const legacy = await viaSse(body, id);
      assert.deepEqual(legacy.answer, fast.answer, `tools/call ${name} ${short(args)}: the fast path and the SDK path disagree`);
    });
  });

  it('answers invalid params of known methods with -32602 Invalid params, not -32603 Internal error', async function () {
    // The SDK's Protocol.setRequestHandler parses each request with its schema and a failed parse
    // throws a ZodError, which has no numeric code, so the client gets -32603 with the zod issues
    // as the message. createConnectionServer could register its handlers through a wrapper that
    // turns that ZodError into RpcError(ErrorCode.InvalidParams, ...). The SDK's own tools/call
    // wrapper means to do so, but runs after the parse that throws.
    const schemas = {
      'tools/call': CallToolRequestSchema,
      'resources/read': ReadResourceRequestSchema,
      'resources/subscribe': SubscribeRequestSchema,
      'resources/unsubscribe': UnsubscribeRequestSchema,
      'prompts/get': GetPromptRequestSchema,
      'logging/setLevel': SetLevelRequestSchema,
      'completion/complete': CompleteRequestSchema,
      'tools/list': ListToolsRequestSchema,
      'prompts/list': ListPromptsRequestSchema,
      'resources/list': ListResourcesRequestSchema,
    };
    const field = fc.oneof(nonString, nonObject, absent);
    const cases = fc
      .record({
        method: fc.constantFrom(...(Object.keys(schemas) as (keyof typeof schemas)[])),
        params: fc.oneof(
          fc.record({ name: field, arguments: field, uri: field, level: field, ref: field, argument: field, cursor: field }, { requiredKeys: [] }),
          fc.record({ name: fc.constantFrom(...inScope), arguments: nonObject }),
        ),
      })
      .filter(({ method, params }) => !schemas[method].safeParse({ method, params }).success);
    await checkProperty('invalid params of known methods', cases, 100, async ({ method, params }) => {
      const id = ++sequence;
      const body = JSON.stringify({ jsonrpc: '2.0', id, method, params });
      for (const [transport, outcome] of [['Streamable HTTP', await viaStreamable(body, id)], ['legacy SSE', await viaSse(body, id)]] as const) {
        const error = outcome.answer?.error as { code?: number } | undefined;
        assert.equal(error?.code, -32602, `${method} ${short(params)} on ${transport}: ${short(outcome.answer)}`);
      }
    });
  });

  it('leaves no process behind when it closes', async function () {
    sse.close();
    await bystanders.close();
    await hub.close();
    await assertNoProcessLeftBehind(processesBefore, 'the messages hub');
  });
});
