import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { InitializeRequest, JSONRPCMessage, ProgressToken, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { HookedTransport } from '../core/infra/hookedTransport';
import type { Connection, ConnectionEdge, TransportKind } from '../core/sessions/sessions';
import type { Hub } from '../hub/hub';
import { createConnectionServer, type ConnectionEndpoint } from '../hub/connectionServer';
import { ConnectionClosedError, type DirectResponse } from './directResponse';

/** Below this many bytes queued, a connection reads well enough: the hub-wide sum is not worth adding up. */
const readingClientBytes = 64 * 1024;
/** Progress tokens whose latest progress is held back for a client that does not read (oldest dropped past it). */
const maxHeldProgress = 1_000;

/** What to do with one outgoing message, given what is queued: send it, drop it (progress: keep the latest), or close the connection. */
export type OutputVerdict = 'send' | 'drop' | 'close';

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
  /** The HTTP responses open to this client: what is queued for it is what they hold. */
  private readonly responses = new Set<ServerResponse>();
  private dropped = 0;
  private warnedAboutQueue = false;
  /** On the SDK's path: the latest progress per token held back while over the limits, sent on drain. */
  private readonly heldProgress = new Map<ProgressToken, { message: JSONRPCMessage; options?: TransportSendOptions }>();

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
        if (direct) {
          direct.write(message);
          return true;
        }
        // The SDK's path: over the limits, progress is coalesced, logs dropped, a result closes.
        const verdict = this.admit(message, 0);
        if (verdict === 'drop' && 'method' in message && message.method === 'notifications/progress') this.holdProgress(message, options);
        return verdict !== 'send';
      },
    });
    this.hooked.onclose = () => this.end(kind === 'sse' ? 'SSE stream closed' : 'closed by client or hub');
  }

  /**
   * An HTTP response that carries messages to this client (a POST's answer, a GET or SSE stream).
   * When it closes, whatever was still queued for it is dropped at once.
   */
  track(res: ServerResponse): void {
    this.responses.add(res);
    res.once('close', () => {
      this.responses.delete(res);
      if (res.writableFinished) return;
      this.hub.memory.dropped(res.writableLength);
      res.destroy();
    });
    res.on('drain', () => this.sendHeldProgress());
  }

  private holdProgress(message: JSONRPCMessage, options: TransportSendOptions | undefined): void {
    const token = ('params' in message ? (message.params as { progressToken?: ProgressToken } | undefined)?.progressToken : undefined) ?? '';
    this.heldProgress.delete(token); // re-inserted last: the oldest is the first to go
    this.heldProgress.set(token, { message, options });
    if (this.heldProgress.size > maxHeldProgress) this.heldProgress.delete(this.heldProgress.keys().next().value as ProgressToken);
  }

  /** The client read again: the latest progress held for each token goes out, while it fits. */
  private sendHeldProgress(): void {
    for (const [token, { message, options }] of this.heldProgress) {
      if (this.overLimits(0)) return;
      this.heldProgress.delete(token);
      this.transport.send(message, options).catch(() => undefined);
    }
  }

  /** Bytes written to this client and not yet taken by its socket's peer. */
  get queuedBytes(): number {
    let bytes = 0;
    for (const res of this.responses) bytes += res.writableLength;
    return bytes;
  }

  get droppedMessages(): number {
    return this.dropped;
  }

  /**
   * Whether `message` (of about `size` bytes, 0 when unknown) may be queued to this client now.
   * Within the limits (hub.maxQueuedBytesPerConnection for this client, hub.maxQueuedBytes for
   * all), it is sent; one result always fits an empty queue. Past them, progress and logs are
   * dropped (the caller may keep the latest progress), other notifications and requests go on,
   * and a result closes the connection: the client is not reading, and its calls are cancelled.
   */
  admit(message: JSONRPCMessage, size: number): OutputVerdict {
    const over = this.overLimits(size);
    if (!over) return 'send';
    const isResult = 'id' in message && !('method' in message);
    const method = 'method' in message ? message.method : undefined;
    if (method === 'notifications/progress' || method === 'notifications/message') {
      this.dropped += 1;
      if (!this.warnedAboutQueue) {
        this.warnedAboutQueue = true;
        this.hub.logger.warn(`connection ${this.connection?.id ?? '(opening)'} does not read: ${over}; its progress is coalesced and its logs dropped`);
      }
      return 'drop';
    }
    if (!isResult) return 'send';
    this.hub.logger.warn(`connection ${this.connection?.id ?? '(opening)'} closed: a result${size > 0 ? ` of ${size} bytes` : ''} does not fit, ${over}; its calls are cancelled`);
    this.hub.memory.dropped(size);
    this.closeNow();
    return 'close';
  }

  /** Why `size` more bytes would not fit the queue limits now, or undefined when they fit. */
  private overLimits(size: number): string | undefined {
    const own = this.queuedBytes;
    const { maxQueuedBytesPerConnection, maxQueuedBytes } = this.hub.config.settings;
    if (own > 0 && own + size > maxQueuedBytesPerConnection) return `its queue holds ${own} bytes (hub.maxQueuedBytesPerConnection ${maxQueuedBytesPerConnection})`;
    if (own + size < readingClientBytes) return undefined;
    const total = this.hub.sessions.allConnections.reduce((sum, c) => sum + (c.edge.queuedBytes ?? 0), 0);
    return total + size > maxQueuedBytes ? `the hub's clients hold ${total} queued bytes (hub.maxQueuedBytes ${maxQueuedBytes})` : undefined;
  }

  /** Ends the connection now, dropping what is queued for it (its sockets go with it). */
  private closeNow(): void {
    for (const res of this.responses) res.destroy();
    this.close().catch(() => undefined);
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
