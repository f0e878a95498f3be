import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { InitializeRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { HookedTransport } from '../core/infra/hookedTransport';
import type { Connection, ConnectionEdge, TransportKind } from '../core/sessions/sessions';
import type { Hub } from '../hub/hub';
import { createConnectionServer, type ConnectionEndpoint } from '../hub/connectionServer';
import { ConnectionClosedError, type DirectResponse } from './directResponse';

type TransportOf<K extends TransportKind> = K extends 'streamable-http' ? StreamableHTTPServerTransport : SSEServerTransport;

/**
 * One client connection at the HTTP edge, and everything it owns: its SDK transport (behind the
 * hub's hooks), its MCP server, the calls in flight on the direct path, and its record in the
 * hub's registry once it is open. Made whole here; ended once, when its transport closes. The
 * registry's record holds it as the connection's `edge`: that is where the HTTP edge finds it by
 * id, so the registry's is the one map of connections.
 */
export class ClientConnection<K extends TransportKind = TransportKind> implements ConnectionEdge {
  readonly endpoint: ConnectionEndpoint;
  /** What the connection's MCP server is connected to: `transport`, behind the hub's hooks. */
  readonly hooked: HookedTransport<TransportOf<K>>;
  /** Calls in flight on the direct path, by JSON-RPC id: the SDK does not know them. */
  readonly directCalls = new Map<RequestId, DirectResponse>();
  /** The registry's record, from `open` on (a Streamable HTTP connection opens during initialize). */
  connection?: Connection;
  private ended = false;

  constructor(
    private readonly hub: Hub,
    readonly kind: K,
    readonly virtualServer: string | undefined,
    readonly transport: TransportOf<K>,
  ) {
    this.endpoint = createConnectionServer(hub, virtualServer, () => this.connection);
    // What the server sends about a call on the direct path (logs, progress, requests to the
    // client) goes on that call's response; everything else through the SDK's transport.
    this.hooked = new HookedTransport(transport, {
      outgoing: (message, options) => {
        const related = options?.relatedRequestId;
        const direct = related === undefined ? undefined : this.directCalls.get(related);
        direct?.write(message);
        return direct !== undefined;
      },
    });
    this.hooked.onclose = () => this.end(kind === 'sse' ? 'SSE stream closed' : 'closed by client or hub');
  }

  /** Registers the connection with the hub under its id (joining the session its key names). */
  open(id: string, sessionKey: string | undefined): Connection {
    this.connection = this.hub.sessions.open({ id, transport: this.kind, virtualServer: this.virtualServer, sessionKey, edge: this });
    return this.connection;
  }

  get server(): ConnectionEndpoint['server'] {
    return this.endpoint.server;
  }

  /** Closes the MCP server, and with it the transport: the connection then ends (once). */
  close(): Promise<void> {
    return this.server.close();
  }

  /**
   * Serves a connection the hub had before it restarted: its transport (made with the saved id)
   * and its MCP server go through the client's saved initialize as they did the first time, on
   * a request that never leaves the process. Its answer is the client's old one; nobody reads it.
   */
  async replayInitialize(this: ClientConnection<'streamable-http'>, params: InitializeRequest['params']): Promise<void> {
    await this.transport.handleRequest(...inProcessPost(), { jsonrpc: '2.0', id: 'restored', method: 'initialize', params });
    const id = this.transport.sessionId;
    if (id === undefined) throw new Error('the saved initialize was refused');
    await this.transport.handleRequest(...inProcessPost(id), { jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  /** Connects the MCP server to the transport: from here on, the transport's messages are served. */
  async start(): Promise<void> {
    await this.endpoint.server.connect(this.hooked);
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const call of this.directCalls.values()) call.controller.abort(new ConnectionClosedError());
    if (this.connection) this.hub.sessions.connectionClosed(this.connection.id, reason);
  }
}

/** A POST that only this process sends: Node's own request and response objects, on no socket. */
function inProcessPost(connectionId?: string): [IncomingMessage, ServerResponse] {
  const req = new IncomingMessage(new Socket());
  req.method = 'POST';
  req.url = '/mcp';
  const headers: Record<string, string> = {
    host: '127.0.0.1',
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(connectionId ? { 'mcp-session-id': connectionId } : {}),
  };
  req.headers = headers;
  req.rawHeaders = Object.entries(headers).flat();
  req.push(null);
  return [req, new ServerResponse(req)];
}
