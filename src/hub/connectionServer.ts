import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { safeParse, type AnyObjectSchema, type SchemaOutput } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  RootsListChangedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolRequest,
  type CallToolResult,
  type ClientRequest,
  type CompleteResult,
  type GetPromptResult,
  type Progress,
  type ReadResourceResult,
  type ServerNotification,
  type ServerRequest,
  type ServerResult,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Route, ScopedCatalog } from '../core/scoping/catalog';
import { admit, describeIdentifier, type ApprovalAnswer, type ApprovalQuestion } from '../core/sessions/safeModeGate';
import { RpcError, RpcErrorCode } from '../core/infra/errors';
import { passesLogLevel } from '../core/infra/logLevels';
import type { Connection, LogicalSession } from '../core/sessions/sessions';
import type { UpstreamRequestOptions } from '../upstream/forwardedRequests';
import type { UpstreamConnection } from '../upstream/upstreamConnection';
import { hubVersion, type Hub } from './hub';
import { CallRecord, type CallStart } from './callRecord';
import { toRpcError } from './toRpcError';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** What a forwarded call needs from the request it serves: the SDK's handler context, or the direct path's. */
export type CallContext = Pick<Extra, 'signal' | 'requestId' | '_meta' | 'sendNotification'> & Partial<Pick<Extra, 'requestInfo'>>;

/** One client connection's MCP server, and its `tools/call` for the direct path. */
export type ConnectionEndpoint = {
  server: Server;
  callTool(params: CallToolRequest['params'], context: CallContext): Promise<CallToolResult>;
};

/** Largest page the hub returns from a merged list; the hub's own cursor pages through the rest. */
export const hubPageSize = 500;

/**
 * Builds the MCP server for one client connection. Every transport (Streamable HTTP, legacy
 * SSE) gets its server from here, so each method has exactly one implementation: scoping is
 * identical on every transport by construction.
 *
 * `connection` is read at call time: Streamable HTTP only knows the connection once the SDK
 * has assigned its id (the `Mcp-Session-Id`) during `initialize`.
 */
export function createConnectionServer(hub: Hub, virtualServer: string | undefined, connection: () => Connection | undefined): ConnectionEndpoint {
  const vs = virtualServer === undefined ? undefined : hub.config.virtualServers.get(virtualServer);
  const instructions = hub.instructionsFor(virtualServer);
  const server = new Server(
    { name: virtualServer ?? 'mcp-session-hub', title: vs?.title ?? 'MCP Session Hub', version: hubVersion },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { listChanged: true, subscribe: true },
        prompts: { listChanged: true },
        completions: {},
        logging: {},
      },
      ...(instructions ? { instructions } : {}),
    },
  );

  /**
   * Registers a handler whose request is validated inside it. Given the strict schema, the
   * SDK would parse before any handler runs and answer a bad request with -32603 and zod's
   * issues; here the answer is -32602 Invalid params, saying what is wrong.
   */
  const handle = <T extends AnyObjectSchema>(schema: T, handler: (request: SchemaOutput<T>, extra: Extra) => ServerResult | Promise<ServerResult>) => {
    const method = (schema as unknown as { shape: { method: { value: string } } }).shape.method.value;
    server.setRequestHandler(z.object({ method: z.literal(method) }).passthrough(), (request, extra) => {
      const parsed = safeParse(schema, request);
      if (!parsed.success) throw new RpcError(RpcErrorCode.InvalidParams, `Invalid ${method} request: ${describeIssues(parsed.error)}`);
      return handler(parsed.data as SchemaOutput<T>, extra);
    });
  };

  /** The live scope: looked up per request so a config reload applies at once. */
  const scope = (): ScopedCatalog => {
    const current = hub.scope(virtualServer);
    if (!current) throw new RpcError(RpcErrorCode.InvalidRequest, `virtual server '${virtualServer}' no longer exists`);
    return current;
  };
  const where = () => scope().view.label;
  /**
   * The error for a name the view does not list: when an upstream that could have offered it is
   * down or still starting, that is what the client is told (its tools are not listed while it is
   * not ready), not that the name is unknown.
   */
  const unknownName = (kind: 'tool' | 'prompt', name: string): RpcError => {
    const { view } = scope();
    const candidates = view.upstreams.filter((id) => view.naming === 'bare' || name.startsWith(`${id}__`));
    for (const id of candidates) {
      const status = hub.upstreamStatus(id);
      if (status && status.state !== 'ready') {
        const why = status.lastError ? ` (${status.lastError})` : '';
        return new RpcError(RpcErrorCode.UpstreamUnavailable, `${kind} '${name}' is not available on ${where()} now: upstream '${id}' is ${status.state}${why}; its ${kind}s are listed again once it is ready`, { upstream: id, state: status.state });
      }
    }
    return new RpcError(RpcErrorCode.InvalidParams, `Unknown ${kind} '${name}': not available on ${where()}`);
  };

  /** A resource this view may use, or the spec's "resource not found". */
  const resourceRoute = (uri: string): Route => {
    const route = scope().resolveResource(uri);
    if (!route) throw new RpcError(RpcErrorCode.ResourceNotFound, `Resource '${uri}' is not available on ${where()}`, { uri });
    return route;
  };

  const requireConnection = (): Connection => {
    const current = connection();
    if (!current) throw new RpcError(RpcErrorCode.InvalidRequest, 'connection is not initialized');
    return current;
  };

  /**
   * The session this request runs in (its chat's, when it names one), touched; a chat session
   * that had ended and starts fresh is announced to the client in a log message.
   */
  const callSession = (current: Connection, extra: CallContext): LogicalSession => {
    const { session, notice } = hub.sessionForCall(current, extra._meta, virtualServer);
    if (session !== current.session) {
      session.lastSeenAt = Date.now();
      session.ownCalls++;
    }
    if (notice && passesLogLevel('notice', current.logLevel)) {
      extra.sendNotification({ method: 'notifications/message', params: { level: 'notice', logger: 'mcp-session-hub', data: notice } }).catch(() => undefined);
    }
    return session;
  };

  /** Sends one request to the routed upstream on behalf of this connection, with progress and cancellation. */
  const forward = async (route: Route, request: ClientRequest, extra: CallContext, session?: LogicalSession, record?: CallRecord): Promise<Record<string, unknown>> => {
    const current = requireConnection();
    const callingSession = session ?? callSession(current, extra);
    const progressToken = extra._meta?.progressToken;
    // The origin lets the upstream's requests and logs for this call find their way back here.
    const origin = { connectionId: current.id, sessionId: callingSession.id, requestId: extra.requestId };
    const options: UpstreamRequestOptions = { signal: extra.signal, origin };
    let lastProgress = -Infinity;
    const sendProgress = (progress: Progress) => {
      // Progress must increase; the hub's own "starting" notice may precede the upstream's first.
      if (progressToken === undefined || progress.progress <= lastProgress) return;
      lastProgress = progress.progress;
      extra.sendNotification({ method: 'notifications/progress', params: { ...progress, progressToken } }).catch(() => undefined);
    };
    if (progressToken !== undefined) options.onprogress = sendProgress;
    const started = performance.now();
    let failed = false;
    let upstream: UpstreamConnection | undefined;
    // A CLIENT span under the request's SERVER span; its context travels in the request's `_meta`.
    const span = record?.trace?.client(request.method, route.name, route.upstream);
    let thrown: unknown;
    try {
      upstream = hub.upstreamFor(route.upstream, callingSession);
      if (upstream.status.state !== 'ready') sendProgress({ progress: 0, message: `starting upstream '${route.upstream}' for this session` });
      return await upstream.request(span ? withTraceparent(request, span.traceparent) : request, options);
    } catch (error) {
      failed = true;
      thrown = toRpcError(error, route.upstream, upstream?.status.lastError);
      throw thrown;
    } finally {
      span?.end(thrown);
      hub.sessions.recordCall(current, performance.now() - started, failed, callingSession);
    }
  };

  handle(ListToolsRequestSchema, async (request) => {
    await hub.settled(virtualServer);
    return page(scope().tools, request.params?.cursor, 'tools');
  });

  /**
   * Asks the calling client's human whether safe mode may let a call through, with an MCP
   * elicitation on the call's own stream. Undefined when the client did not declare form
   * elicitation: the call is refused with how to allow it instead.
   */
  const askApproval = async (question: ApprovalQuestion, extra: CallContext): Promise<ApprovalAnswer | undefined> => {
    // The SDK reads a client's `elicitation: {}` as form mode.
    if (!server.getClientCapabilities()?.elicitation?.form) return undefined;
    const shownArgs = JSON.stringify(question.args ?? {});
    const options = [
      { const: 'once', title: 'Allow once' },
      // Only identifiers can be added to the session's ledger; with none, each call is asked.
      ...(question.sessionChoice ? [{ const: 'session', title: 'Allow for this session' }] : []),
      { const: 'deny', title: 'Deny' },
    ];
    const { identifiers } = question;
    const message = [
      question.command === undefined
        ? `Safe mode: allow '${question.tool}' of upstream '${question.upstream}' (${question.kind}) on what this session did not create?`
        : `Safe mode: allow '${question.tool}' of upstream '${question.upstream}' to run this command? Safe mode cannot see what a command touches.`,
      ...(question.command === undefined ? [] : [`Command: ${question.command.length > 600 ? `${question.command.slice(0, 600)}…` : question.command}`]),
      identifiers.length > 0
        ? `It would touch ${identifiers.slice(0, 10).map(describeIdentifier).join(', ')}${identifiers.length > 10 ? ` and ${identifiers.length - 10} more` : ''}.`
        : question.command === undefined
          ? 'Safe mode recognises nothing in its arguments that this session created.'
          : '',
      `Arguments: ${shownArgs.length > 600 ? `${shownArgs.slice(0, 600)}…` : shownArgs}`,
      `Call digest: sha256:${question.digest.slice(0, 16)}`,
    ]
      .filter(Boolean)
      .join('\n');
    try {
      // The SDK checks an accepted answer against the form's schema: anything but one of the
      // three choices throws, and counts as unanswered.
      const answer = await server.elicitInput(
        { mode: 'form', message, requestedSchema: { type: 'object', properties: { decision: { type: 'string', title: 'Decision', oneOf: options } }, required: ['decision'] } },
        { relatedRequestId: extra.requestId, signal: extra.signal, timeout: approvalTimeoutMs },
      );
      if (answer.action === 'decline') return 'deny';
      if (answer.action !== 'accept') return 'unanswered';
      const decision = answer.content?.decision;
      if (decision === 'once' || decision === 'session') return decision;
      return 'deny';
    } catch (error) {
      if (extra.signal.aborted) throw error;
      hub.logger.debug(`safe mode: no answer to the approval request for '${question.tool}': ${error instanceof Error ? error.message : String(error)}`);
      return 'unanswered';
    }
  };

  /** The activity record (and span) of one client request, ended by `recorded` whatever way it ends. */
  const startRecord = (method: CallStart['method'], target: string, extra: CallContext): CallRecord =>
    new CallRecord(hub.activity, hub.telemetry, { method, target, virtualServer, connection: connection(), requestId: extra.requestId, meta: extra._meta, headers: extra.requestInfo?.headers });
  const recorded = async <T>(record: CallRecord, run: () => Promise<T>, refusal?: (result: T) => boolean): Promise<T> => {
    try {
      const result = await run();
      record.succeeded(result, refusal?.(result) ?? false);
      return result;
    } catch (error) {
      record.failed(error);
      throw error;
    }
  };

  /** `tools/call`, the one implementation: the SDK's handler and the direct path (see `DirectCall`) both run it. */
  const callTool = (params: CallToolRequest['params'], extra: CallContext): Promise<CallToolResult> => {
    const record = startRecord('tools/call', params.name, extra);
    let refused = false;
    return recorded(
      record,
      () =>
        admitAndCall(params, extra, record, () => {
          refused = true;
        }),
      () => refused,
    );
  };

  const admitAndCall = async (params: CallToolRequest['params'], extra: CallContext, record: CallRecord, onRefused: () => void): Promise<CallToolResult> => {
    const route = scope().resolveTool(params.name);
    if (!route) throw unknownName('tool', params.name);
    const current = requireConnection();
    const session = callSession(current, extra);
    record.routed(route.upstream, route.name, params.arguments, session);
    // Safe mode judges the upstream's own tool: its own name, annotations and input schema.
    const call = hub.safeModeCall(route.upstream, { ...route.tool, name: route.name }, params.arguments, virtualServer, session);
    const admission = await admit(call, { ledger: session.ledger, journal: record.journal(session.safeModeDecisions) }, {
      ask: async (question) => {
        record.asking(question.digest);
        const answer = await askApproval(question, extra);
        record.answered(answer);
        return answer;
      },
      probe: async (tool, args) =>
        (await hub.upstreamFor(route.upstream, session).request(
          { method: 'tools/call', params: { name: tool, arguments: args } },
          { signal: extra.signal, origin: { connectionId: current.id, sessionId: session.id, requestId: extra.requestId } },
        )) as CallToolResult,
      howToAllow: howToAllow(route.upstream, route.name),
    });
    if (!admission.proceed) {
      hub.sessions.recordCall(current, 0, true, session);
      onRefused();
      return admission.result;
    }
    let result: CallToolResult | undefined;
    try {
      result = (await forward(route, { method: 'tools/call', params: { ...params, name: route.name } }, extra, session, record)) as CallToolResult;
      return result;
    } finally {
      const { collisions } = await admission.settle(result);
      if (collisions.length > 0) {
        hub.logger.warn(`safe mode: '${route.name}' of upstream '${route.upstream}' named ${collisions.join(', ')} in its result for session ${session.id}, already owned by another session; not recorded`);
      }
    }
  };

  handle(CallToolRequestSchema, (request, extra) => callTool(request.params, extra));

  handle(ListPromptsRequestSchema, async (request) => {
    await hub.settled(virtualServer);
    return page(scope().prompts, request.params?.cursor, 'prompts');
  });

  handle(GetPromptRequestSchema, (request, extra) => {
    const record = startRecord('prompts/get', request.params.name, extra);
    return recorded(record, async () => {
      const route = scope().resolvePrompt(request.params.name);
      if (!route) throw unknownName('prompt', request.params.name);
      const current = requireConnection();
      const session = callSession(current, extra);
      record.routed(route.upstream, route.name, request.params.arguments, session);
      const params = { ...request.params, name: route.name };
      return (await forward(route, { method: 'prompts/get', params }, extra, session, record)) as GetPromptResult;
    });
  });

  handle(ListResourcesRequestSchema, async (request) => {
    await hub.settled(virtualServer);
    return page(scope().resources, request.params?.cursor, 'resources');
  });

  handle(ListResourceTemplatesRequestSchema, async (request) => {
    await hub.settled(virtualServer);
    return page(scope().resourceTemplates, request.params?.cursor, 'resourceTemplates');
  });

  handle(ReadResourceRequestSchema, (request, extra) => {
    const record = startRecord('resources/read', request.params.uri, extra);
    return recorded(record, async () => {
      const route = resourceRoute(request.params.uri);
      const current = requireConnection();
      const session = callSession(current, extra);
      record.routed(route.upstream, request.params.uri, undefined, session);
      return (await forward(route, { method: 'resources/read', params: request.params }, extra, session, record)) as ReadResourceResult;
    });
  });

  handle(SubscribeRequestSchema, async (request, extra) => {
    const route = resourceRoute(request.params.uri);
    await hub.subscribe(requireConnection(), route.upstream, request.params.uri, extra.signal).catch((error: unknown) => {
      throw toRpcError(error, route.upstream);
    });
    return {};
  });

  handle(UnsubscribeRequestSchema, async (request) => {
    const route = resourceRoute(request.params.uri);
    await hub.unsubscribe(requireConnection(), route.upstream, request.params.uri).catch((error: unknown) => {
      throw toRpcError(error, route.upstream);
    });
    return {};
  });

  // Replaces the SDK's own handler: the level is the hub's to apply, per connection and upstream.
  handle(SetLevelRequestSchema, (request) => {
    hub.setLogLevel(requireConnection(), request.params.level);
    return {};
  });

  handle(CompleteRequestSchema, async (request, extra) => {
    const { ref } = request.params;
    if (ref.type === 'ref/prompt') {
      const route = scope().resolvePrompt(ref.name);
      if (!route) throw new RpcError(RpcErrorCode.InvalidParams, `Unknown prompt '${ref.name}': not available on ${where()}`);
      const params = { ...request.params, ref: { ...ref, name: route.name } };
      return (await forward(route, { method: 'completion/complete', params }, extra)) as CompleteResult;
    }
    const route = scope().resolveResourceReference(ref.uri);
    if (!route) throw new RpcError(RpcErrorCode.InvalidParams, `Unknown resource template '${ref.uri}': not available on ${where()}`);
    return (await forward(route, { method: 'completion/complete', params: request.params }, extra)) as CompleteResult;
  });

  server.setNotificationHandler(RootsListChangedNotificationSchema, () => {
    const current = connection();
    if (current) hub.rootsChanged(current.session);
  });

  server.oninitialized = () => {
    const current = connection();
    const client = server.getClientVersion();
    if (current) hub.sessions.identify(current, client ? { name: client.name, version: client.version } : undefined);
  };

  return { server, callTool };
}

/** The request with the CLIENT span's W3C context in its `_meta.traceparent` (the caller's own `_meta` otherwise kept). */
function withTraceparent(request: ClientRequest, traceparent: string): ClientRequest {
  const params = (request.params ?? {}) as { _meta?: Record<string, unknown> };
  return { ...request, params: { ...params, _meta: { ...params._meta, traceparent } } } as ClientRequest;
}

/** How long a human has to answer safe mode's approval request. */
const approvalTimeoutMs = 10 * 60_000;

/** What a refused call's client can do about it. */
function howToAllow(upstream: string, tool: string): string {
  return (
    `To allow it: call from a client that answers the hub's approval request (MCP form elicitation; VS Code does), ` +
    `or turn safe mode off for upstream '${upstream}' (the tree's Toggle Safe Mode, or "safeMode": false on servers.${upstream} in the hub config), ` +
    `or give the tool a rule at servers.${upstream}.safeMode.tools.${tool}`
  );
}

/** zod's issues as one line: where and what. */
function describeIssues(error: unknown): string {
  const issues = (error as { issues?: Array<{ path: PropertyKey[]; message: string }> }).issues ?? [];
  if (issues.length === 0) return String(error);
  return issues.map((issue) => `${issue.path.length ? issue.path.map(String).join('.') : '(request)'}: ${issue.message}`).join('; ');
}

type Cursor = { offset: number };

/** Pages a merged list with the hub's own opaque cursor. */
function page<T, K extends string>(items: readonly T[], cursor: string | undefined, key: K): { [P in K]: T[] } & { nextCursor?: string } {
  let offset = 0;
  if (cursor !== undefined) {
    try {
      const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Cursor;
      if (!Number.isInteger(parsed.offset) || parsed.offset < 0) throw new Error('bad offset');
      offset = parsed.offset;
    } catch {
      throw new RpcError(RpcErrorCode.InvalidParams, `Invalid cursor '${cursor}'`);
    }
  }
  const slice = items.slice(offset, offset + hubPageSize);
  const next = offset + hubPageSize < items.length ? Buffer.from(JSON.stringify({ offset: offset + hubPageSize })).toString('base64url') : undefined;
  return { [key]: slice, ...(next ? { nextCursor: next } : {}) } as { [P in K]: T[] } & { nextCursor?: string };
}
