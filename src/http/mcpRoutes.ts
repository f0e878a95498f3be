import { randomUUID } from 'node:crypto';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, isJSONRPCRequest, JSONRPCMessageSchema, SUPPORTED_PROTOCOL_VERSIONS, type InitializeRequest, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HookedTransport } from '../core/infra/hookedTransport';
import { errorMessage, type Logger } from '../core/infra/logger';
import { keyedSessionId, sessionKeyPattern, type Connection, type TransportKind } from '../core/sessions/sessions';
import type { Hub } from '../hub/hub';
import { answerDirectly, asDirectToolCall, cancelledRequestId } from '../hub/directCall';
import { ClientConnection } from './clientConnection';
import { DirectResponse } from './directResponse';
import type { SavedConnection, SavedConnections } from './savedConnections';
import { sendJsonRpcError, type EdgeRequest, type RouteTable } from './edge';
import { RpcErrorCode } from '../core/infra/errors';

/** What a client at the session or connection cap is told to wait before it tries again. */
const retryAfterSeconds = 5;

/** Header that joins several connections into one logical session. */
export const sessionKeyHeader = 'x-mcp-hub-session';


/**
 * The MCP endpoints. Streamable HTTP at `/mcp` and `/servers/{id}/mcp`; legacy HTTP+SSE at
 * `/sse` + `/messages` and `/servers/{id}/sse` + `/servers/{id}/messages`. Both create their
 * per-connection server with `createConnectionServer`, so they cannot disagree on scope.
 */
export class McpRoutes {
  /** Restores in flight, by connection id: two requests of one client wait for the same one. */
  private readonly restoring = new Map<string, Promise<ClientConnection | undefined>>();

  constructor(
    private readonly hub: Hub,
    private readonly logger: Logger,
    /** The connections to serve again after a restart; unset: a restart ends every connection. */
    private readonly saved?: SavedConnections,
  ) {
    // A connection that ends for its client (DELETE, idle, kill) is not served again.
    hub.sessions.onDidChange((event) => {
      if (event.type === 'connection-closed' && event.connection.transport === 'streamable-http') saved?.forget(event.connection.id);
    });
  }

  addTo(routes: RouteTable): void {
    routes.all('/mcp', (request) => this.handleStreamable(request, undefined));
    routes.all('/servers/:id/mcp', (request) => this.withVirtualServer(request, (id) => this.handleStreamable(request, id)));
    routes.on('GET', '/sse', ({ req, res }) => this.openSse(req, res, undefined));
    routes.on('GET', '/servers/:id/sse', (request) => this.withVirtualServer(request, (id) => this.openSse(request.req, request.res, id)));
    routes.on('POST', '/messages', (request) => this.postSse(request, undefined));
    routes.on('POST', '/servers/:id/messages', (request) => this.withVirtualServer(request, (id) => this.postSse(request, id)));
  }

  private async withVirtualServer({ res, params }: EdgeRequest, handle: (id: string) => Promise<void>): Promise<void> {
    const id = params.id ?? '';
    if (!this.hub.hasVirtualServer(id)) {
      const known = [...this.hub.config.virtualServers.keys()].join(', ') || 'none';
      sendJsonRpcError(res, 404, RpcErrorCode.Refused, `No virtual server '${id}' (configured: ${known})`);
      return;
    }
    await handle(id);
  }

  /** Reads and validates `X-MCP-Hub-Session`; answers 400 itself when it is malformed. */
  private sessionKey(req: IncomingMessage, res: ServerResponse): { ok: true; key?: string } | { ok: false } {
    const key = req.headers[sessionKeyHeader];
    if (key === undefined) return { ok: true };
    if (typeof key !== 'string' || !sessionKeyPattern.test(key)) {
      sendJsonRpcError(res, 400, RpcErrorCode.InvalidRequest, `Bad Request: ${sessionKeyHeader} must be 1-128 characters of A-Z a-z 0-9 . _ : @ -`);
      return { ok: false };
    }
    return { ok: true, key };
  }

  /**
   * Whether the hub may open one more connection (and, without a key of a live session, one more
   * logical session): past `hub.maxConnections` or `hub.maxSessions` it answers 503 itself.
   */
  private roomFor(res: ServerResponse, sessionKey: string | undefined): boolean {
    const { maxConnections, maxSessions } = this.hub.config.settings;
    const { sessions } = this.hub;
    const joinsLive = sessionKey !== undefined && sessions.session(keyedSessionId(sessionKey)) !== undefined;
    const full =
      sessions.connectionCount >= maxConnections
        ? `${maxConnections} connections (hub.maxConnections)`
        : !joinsLive && sessions.sessionCount >= maxSessions
          ? `${maxSessions} sessions (hub.maxSessions)`
          : undefined;
    if (!full) return true;
    this.logger.warn(`refused a new connection: the hub holds its maximum of ${full}`);
    sendJsonRpcError(res, 503, RpcErrorCode.Refused, `Service Unavailable: the hub holds its maximum of ${full}; retry later, or end idle sessions`, { 'retry-after': String(retryAfterSeconds) });
    return false;
  }

  private async handleStreamable(request: EdgeRequest, virtualServer: string | undefined): Promise<void> {
    const { req, res, body } = request;
    try {
      const connectionId = req.headers['mcp-session-id'];
      if (typeof connectionId === 'string') {
        const client = this.clientConnection(connectionId) ?? (await this.restore(connectionId, virtualServer));
        // A connection belongs to the endpoint that created it: another endpoint never finds it.
        if (!client || !isKind(client, 'streamable-http') || client.virtualServer !== virtualServer) {
          sendJsonRpcError(res, 404, RpcErrorCode.ConnectionNotFound, 'Session not found: it ended or never existed; initialize a new one');
          return;
        }
        if (client.connection) this.hub.sessions.touch(client.connection);
        if (await this.tryDirectPath(request, client)) return;
        this.holdStreamOpen(req, res, client.connection);
        this.cancelWhenCutOff(request, client.hooked);
        client.track(res);
        await client.transport.handleRequest(req, res, body);
        return;
      }
      if (req.method === 'POST' && !isJsonContentType(req.headers['content-type'])) {
        sendJsonRpcError(res, 415, RpcErrorCode.Refused, 'Unsupported Media Type: Content-Type must be application/json');
        return;
      }
      if (req.method !== 'POST' || !isInitializeRequest(body)) {
        const message = req.method === 'POST' ? 'Bad Request: Mcp-Session-Id header is required (or send initialize)' : 'Bad Request: Mcp-Session-Id header is required';
        sendJsonRpcError(res, 400, RpcErrorCode.Refused, message);
        return;
      }
      const key = this.sessionKey(req, res);
      if (!key.ok || !this.roomFor(res, key.key)) return;
      await this.initializeStreamable(request, virtualServer, key.key);
    } catch (error) {
      this.logger.error(`streamable HTTP request failed: ${errorMessage(error)}`);
      sendJsonRpcError(res, 500, RpcErrorCode.InternalError, 'Internal error');
    }
  }

  /**
   * The direct path (see `src/hub/directCall.ts`): a plain `tools/call`, or the cancellation of
   * one, on a request the SDK's transport would accept. False when the SDK's path should take it.
   */
  private async tryDirectPath({ req, res, body }: EdgeRequest, client: ClientConnection<'streamable-http'>): Promise<boolean> {
    if (req.method !== 'POST' || !client.connection) return false;
    // The SDK's transport answers these with 406, 415 and 400: leave them to it.
    const accept = req.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return false;
    if (!isJsonContentType(req.headers['content-type'])) return false;
    const version = req.headers['mcp-protocol-version'];
    if (version !== undefined && (typeof version !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version))) return false;

    const cancelled = cancelledRequestId(body);
    if (cancelled !== undefined) {
      const call = client.directCalls.get(cancelled);
      if (!call) return false;
      call.controller.abort(new Error('cancelled by the client'));
      res.writeHead(202).end();
      return true;
    }
    const call = asDirectToolCall(body);
    if (!call || client.directCalls.has(call.id)) return false;
    client.track(res);
    const response = new DirectResponse(res, client.transport.sessionId ?? '', call.id, (message, size) => client.admit(message, size));
    client.directCalls.set(call.id, response);
    try {
      response.end(await answerDirectly(call, client.endpoint, response.controller.signal, req.headers));
      return true;
    } finally {
      if (client.directCalls.get(call.id) === response) client.directCalls.delete(call.id);
    }
  }

  private async initializeStreamable({ req, res, body }: EdgeRequest, virtualServer: string | undefined, sessionKey: string | undefined): Promise<void> {
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        client.open(id, sessionKey);
        const { params } = body as InitializeRequest;
        this.saved?.save({ id, virtualServer: virtualServer ?? null, ...(sessionKey === undefined ? {} : { sessionKey }), initialize: params });
      },
    });
    const client = new ClientConnection(this.hub, 'streamable-http', virtualServer, transport);
    await client.start();
    await transport.handleRequest(req, res, body);
  }

  /**
   * A connection this hub served before it restarted, served again under its old id, on the
   * endpoint it was made on, in the session its key names: its client goes on as if nothing had
   * happened. Undefined when the id was never saved here (a 404, as before).
   */
  private restore(id: string, virtualServer: string | undefined): Promise<ClientConnection | undefined> {
    const saved = this.saved?.find(id);
    if (!saved || saved.virtualServer !== (virtualServer ?? null)) return Promise.resolve(undefined);
    let restoring = this.restoring.get(id);
    if (!restoring) {
      restoring = this.restoreSaved(saved, virtualServer).finally(() => this.restoring.delete(id));
      this.restoring.set(id, restoring);
    }
    return restoring;
  }

  private async restoreSaved(saved: SavedConnection, virtualServer: string | undefined): Promise<ClientConnection | undefined> {
    const { maxConnections } = this.hub.config.settings;
    if (this.hub.sessions.connectionCount >= maxConnections) return undefined;
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => saved.id,
      onsessioninitialized: (id) => {
        client.open(id, saved.sessionKey);
      },
    });
    const client = new ClientConnection(this.hub, 'streamable-http', virtualServer, transport);
    try {
      await client.start();
      await client.replayInitialize(saved.initialize);
    } catch (error) {
      this.logger.warn(`connection ${saved.id} could not be served again after the restart: ${errorMessage(error)}`);
      this.saved?.forget(saved.id);
      await client.close().catch(() => undefined);
      return undefined;
    }
    this.logger.info(`connection ${saved.id} served again after a restart (session ${client.connection?.session.id ?? '?'})`);
    return client.connection ? client : undefined;
  }

  /** The open connection with this id, from the hub's registry (which holds it as the connection's edge). */
  private clientConnection(id: string): ClientConnection | undefined {
    const edge = this.hub.sessions.connection(id)?.edge;
    return edge instanceof ClientConnection ? edge : undefined;
  }

  /**
   * A POST whose response is cut off before it is complete cancels the requests it carried,
   * upstream too: the SDK's transport would let them run to their end for nobody.
   */
  private cancelWhenCutOff({ req, res, body }: EdgeRequest, transport: HookedTransport): void {
    if (req.method !== 'POST') return;
    const ids = (Array.isArray(body) ? body : [body])
      .filter((message: unknown): message is JSONRPCRequest => isJSONRPCRequest(message))
      .map((request) => request.id);
    if (ids.length === 0) return;
    res.once('close', () => {
      if (res.writableFinished) return;
      for (const requestId of ids) {
        transport.receive({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'client disconnected' } });
      }
    });
  }

  /** A GET stream keeps its connection from idling out while it is open. */
  private holdStreamOpen(req: IncomingMessage, res: ServerResponse, connection: Connection | undefined): void {
    if (req.method !== 'GET' || !connection) return;
    connection.openStreams++;
    res.once('close', () => {
      connection.openStreams--;
      this.hub.sessions.touch(connection);
    });
  }

  private async openSse(req: IncomingMessage, res: ServerResponse, virtualServer: string | undefined): Promise<void> {
    const key = this.sessionKey(req, res);
    if (!key.ok || !this.roomFor(res, key.key)) return;
    try {
      const messagesPath = virtualServer === undefined ? '/messages' : `/servers/${encodeURIComponent(virtualServer)}/messages`;
      const transport = new SSEServerTransport(messagesPath, res);
      // Every message of a legacy SSE connection takes the SDK's path: no direct calls.
      const client = new ClientConnection(this.hub, 'sse', virtualServer, transport);
      client.track(res);
      client.open(transport.sessionId, key.key).openStreams = 1; // the stream is the connection: it is not idle while open
      await client.start();
    } catch (error) {
      this.logger.error(`SSE connection failed: ${errorMessage(error)}`);
      sendJsonRpcError(res, 500, RpcErrorCode.InternalError, 'Internal error');
    }
  }

  private async postSse({ req, res, query, body }: EdgeRequest, virtualServer: string | undefined): Promise<void> {
    const id = typeof query.sessionId === 'string' ? query.sessionId : undefined;
    if (!id) {
      sendJsonRpcError(res, 400, RpcErrorCode.Refused, 'Bad Request: sessionId query parameter is required');
      return;
    }
    const client = this.clientConnection(id);
    if (!client || !isKind(client, 'sse') || client.virtualServer !== virtualServer) {
      sendJsonRpcError(res, 404, RpcErrorCode.ConnectionNotFound, 'Session not found: it ended or never existed; open a new SSE stream');
      return;
    }
    if (client.connection) this.hub.sessions.touch(client.connection);
    // The SDK's SSE transport answers these in plain text; a client expects JSON-RPC.
    if (!isJsonContentType(req.headers['content-type'])) {
      sendJsonRpcError(res, 415, RpcErrorCode.Refused, 'Unsupported Media Type: Content-Type must be application/json');
      return;
    }
    if (!JSONRPCMessageSchema.safeParse(body).success) {
      sendJsonRpcError(res, 400, RpcErrorCode.ParseError, 'Parse error: Invalid JSON-RPC message');
      return;
    }
    try {
      await client.transport.handlePostMessage(req, res, body);
    } catch (error) {
      this.logger.error(`SSE message failed: ${errorMessage(error)}`);
      sendJsonRpcError(res, 500, RpcErrorCode.InternalError, 'Internal error');
    }
  }
}

function isKind<K extends TransportKind>(client: ClientConnection, kind: K): client is ClientConnection<K> {
  return client.kind === kind;
}
