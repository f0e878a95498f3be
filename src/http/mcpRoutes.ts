import { randomUUID } from 'node:crypto';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { Router, type Request, type Response } from 'express';
import { errorMessage, type Logger } from '../core/logger';
import { sessionKeyPattern, type Connection } from '../core/sessions';
import type { Hub } from '../hub/hub';
import { createSessionServer } from '../hub/sessionServer';
import { sendJsonRpcError } from './security';

/** Header that joins several connections into one logical session. */
export const sessionKeyHeader = 'x-mcp-hub-session';

type Live<T> = { transport: T; server: Server; virtualServer: string | undefined; connection?: Connection };

/**
 * The MCP endpoints. Streamable HTTP at `/mcp` and `/servers/{id}/mcp`; legacy HTTP+SSE at
 * `/sse` + `/messages` and `/servers/{id}/sse` + `/servers/{id}/messages`. Both create their
 * per-connection server with `createSessionServer`, so they cannot disagree on scope.
 */
export class McpRoutes {
  private readonly streamable = new Map<string, Live<StreamableHTTPServerTransport>>();
  private readonly sse = new Map<string, Live<SSEServerTransport>>();
  readonly router = Router();

  constructor(
    private readonly hub: Hub,
    private readonly logger: Logger,
  ) {
    this.router.all('/mcp', (req, res) => this.handleStreamable(req, res, undefined));
    this.router.all('/servers/:id/mcp', (req, res) => this.withVirtualServer(req, res, (id) => this.handleStreamable(req, res, id)));
    this.router.get('/sse', (req, res) => this.openSse(req, res, undefined));
    this.router.get('/servers/:id/sse', (req, res) => this.withVirtualServer(req, res, (id) => this.openSse(req, res, id)));
    this.router.post('/messages', (req, res) => this.postSse(req, res, undefined));
    this.router.post('/servers/:id/messages', (req, res) => this.withVirtualServer(req, res, (id) => this.postSse(req, res, id)));
  }

  private async withVirtualServer(req: Request, res: Response, handle: (id: string) => Promise<void>): Promise<void> {
    const id = String(req.params.id);
    if (!this.hub.hasVirtualServer(id)) {
      const known = [...this.hub.config.virtualServers.keys()].join(', ') || 'none';
      sendJsonRpcError(res, 404, -32000, `No virtual server '${id}' (configured: ${known})`);
      return;
    }
    await handle(id);
  }

  /** Reads and validates `X-MCP-Hub-Session`; answers 400 itself when it is malformed. */
  private sessionKey(req: Request, res: Response): { ok: true; key?: string } | { ok: false } {
    const key = req.headers[sessionKeyHeader];
    if (key === undefined) return { ok: true };
    if (typeof key !== 'string' || !sessionKeyPattern.test(key)) {
      sendJsonRpcError(res, 400, -32600, `Bad Request: ${sessionKeyHeader} must be 1-128 characters of A-Z a-z 0-9 . _ : @ -`);
      return { ok: false };
    }
    return { ok: true, key };
  }

  private async handleStreamable(req: Request, res: Response, virtualServer: string | undefined): Promise<void> {
    try {
      const sessionId = req.headers['mcp-session-id'];
      if (typeof sessionId === 'string') {
        const live = this.streamable.get(sessionId);
        // A session belongs to the endpoint that created it: another endpoint never finds it.
        if (!live || live.virtualServer !== virtualServer) {
          sendJsonRpcError(res, 404, -32001, 'Session not found: it ended or never existed; initialize a new one');
          return;
        }
        if (live.connection) this.hub.sessions.touch(live.connection);
        this.holdStreamOpen(req, res, live.connection);
        await live.transport.handleRequest(req, res, req.body);
        return;
      }
      if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
        const message = req.method === 'POST' ? 'Bad Request: Mcp-Session-Id header is required (or send initialize)' : 'Bad Request: Mcp-Session-Id header is required';
        sendJsonRpcError(res, 400, -32000, message);
        return;
      }
      const key = this.sessionKey(req, res);
      if (!key.ok) return;
      await this.initializeStreamable(req, res, virtualServer, key.key);
    } catch (error) {
      this.logger.error(`streamable HTTP request failed: ${errorMessage(error)}`);
      sendJsonRpcError(res, 500, -32603, 'Internal error');
    }
  }

  private async initializeStreamable(req: Request, res: Response, virtualServer: string | undefined, sessionKey: string | undefined): Promise<void> {
    const live: Partial<Live<StreamableHTTPServerTransport>> = { virtualServer };
    const server = createSessionServer(this.hub, virtualServer, () => live.connection);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        live.connection = this.hub.openConnection({ id, transport: 'streamable-http', virtualServer, sessionKey, close: () => server.close() }, server);
        this.streamable.set(id, live as Live<StreamableHTTPServerTransport>);
      },
    });
    live.transport = transport;
    live.server = server;
    transport.onclose = () => {
      const id = transport.sessionId;
      if (!id) return;
      this.streamable.delete(id);
      this.hub.sessions.connectionClosed(id, 'closed by client or hub');
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  }

  /** A GET stream keeps its connection from idling out while it is open. */
  private holdStreamOpen(req: Request, res: Response, connection: Connection | undefined): void {
    if (req.method !== 'GET' || !connection) return;
    connection.openStreams++;
    res.once('close', () => {
      connection.openStreams--;
      this.hub.sessions.touch(connection);
    });
  }

  private async openSse(req: Request, res: Response, virtualServer: string | undefined): Promise<void> {
    const key = this.sessionKey(req, res);
    if (!key.ok) return;
    try {
      const messagesPath = virtualServer === undefined ? '/messages' : `/servers/${encodeURIComponent(virtualServer)}/messages`;
      const transport = new SSEServerTransport(messagesPath, res);
      const live: Partial<Live<SSEServerTransport>> = { transport, virtualServer };
      const server = createSessionServer(this.hub, virtualServer, () => live.connection);
      live.server = server;
      const id = transport.sessionId;
      live.connection = this.hub.openConnection({ id, transport: 'sse', virtualServer, sessionKey: key.key, close: () => server.close() }, server);
      live.connection.openStreams = 1; // the stream is the connection: it is not idle while open
      this.sse.set(id, live as Live<SSEServerTransport>);
      transport.onclose = () => {
        this.sse.delete(id);
        this.hub.sessions.connectionClosed(id, 'SSE stream closed');
      };
      await server.connect(transport);
    } catch (error) {
      this.logger.error(`SSE connection failed: ${errorMessage(error)}`);
      sendJsonRpcError(res, 500, -32603, 'Internal error');
    }
  }

  private async postSse(req: Request, res: Response, virtualServer: string | undefined): Promise<void> {
    const id = typeof req.query.sessionId === 'string' ? req.query.sessionId : undefined;
    if (!id) {
      sendJsonRpcError(res, 400, -32000, 'Bad Request: sessionId query parameter is required');
      return;
    }
    const live = this.sse.get(id);
    if (!live || live.virtualServer !== virtualServer) {
      sendJsonRpcError(res, 404, -32001, 'Session not found: it ended or never existed; open a new SSE stream');
      return;
    }
    if (live.connection) this.hub.sessions.touch(live.connection);
    try {
      await live.transport.handlePostMessage(req, res, req.body);
    } catch (error) {
      this.logger.error(`SSE message failed: ${errorMessage(error)}`);
      sendJsonRpcError(res, 500, -32603, 'Internal error');
    }
  }
}
