import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ClientCapabilities, type LoggingMessageNotification } from '@modelcontextprotocol/sdk/types.js';
import { passesLogLevel } from '../core/infra/logLevels';
import { errorMessage, type Logger } from '../core/infra/logger';
import type { Connection, SessionRegistry } from '../core/sessions/sessions';
import { SubscriptionTable } from '../core/sessions/subscriptions';
import type { Attribution, ClientBoundRequest, UpstreamMessageHandlers } from '../upstream/attribution';
import { maxTimerMs } from '../upstream/forwardedRequests';
import { passthroughResult } from '../upstream/passthrough';
import type { UpstreamConnection } from '../upstream/upstreamConnection';
import { RpcError, RpcErrorCode } from '../core/infra/errors';


/**
 * Routes what upstreams send towards clients: requests (sampling, elicitation, roots) and log
 * messages go to the one session the upstream is serving, or nowhere; resource updates go to the
 * subscribers of that upstream's URI. Nothing here ever picks a session by guessing.
 */
export class MessageRouter {
  private readonly subscriptions = new SubscriptionTable<UpstreamConnection>();

  constructor(
    private readonly sessions: SessionRegistry,
    private readonly logger: Logger,
  ) {}

  /**
   * The handlers one upstream connection reports to. A per-session instance names its `owner`:
   * whatever it sends belongs to that session, even with no request in flight.
   */
  handlersFor(upstreamId: string, upstream: () => UpstreamConnection, owner?: () => string | undefined): UpstreamMessageHandlers {
    const attribute = (attribution: Attribution): Attribution => (attribution.origin ? attribution : (this.ownerOrigin(owner?.()) ?? attribution));
    return {
      clientRequest: (request, attribution, signal) => {
        const attributed = attribute(attribution);
        // No session to ask: a shared upstream is answered its configured roots, never an error.
        if (request.method === 'roots/list' && !attributed.origin) return Promise.resolve(configuredRoots(upstream()));
        return this.clientRequest(upstreamId, request, attributed, signal);
      },
      logMessage: (params, attribution) => this.logMessage(upstreamId, params, attribute(attribution)),
      resourceUpdated: (uri) => this.resourceUpdated(upstream(), uri),
    };
  }

  /** The owner session's most recently active connection, for messages of its own instance. */
  private ownerOrigin(sessionId: string | undefined): Attribution | undefined {
    const session = sessionId === undefined ? undefined : this.sessions.session(sessionId);
    if (!session) return undefined;
    let latest: Connection | undefined;
    for (const connection of session.reachableConnections.values()) if (!latest || connection.lastSeenAt >= latest.lastSeenAt) latest = connection;
    return latest ? { origin: { connectionId: latest.id, sessionId: session.id }, via: 'session instance' } : undefined;
  }

  private async clientRequest(upstreamId: string, request: ClientBoundRequest, attribution: Attribution, signal: AbortSignal): Promise<Record<string, unknown>> {
    const what = `${request.method} from upstream '${upstreamId}'`;
    if (!attribution.origin) throw new RpcError(RpcErrorCode.InvalidRequest, `The hub refused ${what}: ${attribution.why}`);
    const { connectionId, requestId } = attribution.origin;
    const server = this.sessions.connection(connectionId)?.server;
    if (!server) throw new RpcError(RpcErrorCode.InvalidRequest, `The hub refused ${what}: the connection it was serving has closed`);
    const missing = missingCapability(request, server.getClientCapabilities());
    if (missing) throw new RpcError(RpcErrorCode.MethodNotFound, `The hub refused ${what}: the client of this session did not declare ${missing}`);
    // On the calling request's own stream, so a client without a standalone stream gets it too. A
    // human may take long to answer an elicitation: the upstream's own timeout and cancellation bound it.
    return server.request(request, passthroughResult, { relatedRequestId: requestId, signal, timeout: maxTimerMs });
  }

  private logMessage(upstreamId: string, params: LoggingMessageNotification['params'], attribution: Attribution): void {
    if (!attribution.origin) {
      this.logger.debug(`log message from upstream '${upstreamId}' kept in the hub's log only: ${attribution.why}`);
      return;
    }
    const { connectionId, requestId } = attribution.origin;
    const connection = this.sessions.connection(connectionId);
    if (!connection || !passesLogLevel(params.level, connection.logLevel)) return;
    connection.server.notification({ method: 'notifications/message', params }, { relatedRequestId: requestId }).catch((error: unknown) => {
      this.logger.debug(`could not deliver a log message to ${connectionId}: ${errorMessage(error)}`);
    });
  }

  private resourceUpdated(upstream: UpstreamConnection, uri: string): void {
    for (const connectionId of this.subscriptions.subscribers(upstream, uri)) {
      this.sessions
        .connection(connectionId)
        ?.server.notification({ method: 'notifications/resources/updated', params: { uri } })
        .catch((error: unknown) => this.logger.debug(`could not tell ${connectionId} that ${uri} changed: ${errorMessage(error)}`));
    }
  }

  /**
   * Subscribes a connection; the upstream hears only the first subscription to a URI. Its
   * capabilities are read once it is ready: a session's per-session instance may be starting.
   */
  async subscribe(connectionId: string, upstream: UpstreamConnection, uri: string, signal?: AbortSignal): Promise<void> {
    if (!(await upstream.readyCapabilities(signal)).resources?.subscribe) {
      throw new RpcError(RpcErrorCode.MethodNotFound, `upstream '${upstream.id}' does not support resource subscriptions (${uri})`);
    }
    if (!this.subscriptions.add(upstream, uri, connectionId)) return;
    try {
      await upstream.subscribe(uri, signal);
    } catch (error) {
      this.subscriptions.remove(upstream, uri, connectionId);
      throw error;
    }
  }

  /** Unsubscribes a connection; the upstream hears it when the last subscriber leaves. */
  async unsubscribe(connectionId: string, upstream: UpstreamConnection, uri: string): Promise<void> {
    if (this.subscriptions.remove(upstream, uri, connectionId)) await upstream.unsubscribe(uri);
  }

  /** Drops a closed connection's subscriptions, unsubscribing the upstream where it was the last. */
  connectionClosed(connectionId: string): void {
    for (const { upstream, uri } of this.subscriptions.removeSubscriber(connectionId)) {
      upstream.unsubscribe(uri).catch((error: unknown) => this.logger.debug(`could not unsubscribe ${upstream.id} from ${uri}: ${errorMessage(error)}`));
    }
  }

  upstreamClosed(upstream: UpstreamConnection): void {
    this.subscriptions.removeUpstream(upstream);
  }
}

/** The capability a client must have declared to be sent this request, if it did not. */
function missingCapability(request: ClientBoundRequest, capabilities: ClientCapabilities | undefined): string | undefined {
  if (request.method === 'sampling/createMessage') return capabilities?.sampling ? undefined : 'the sampling capability';
  if (request.method === 'roots/list') return capabilities?.roots ? undefined : 'the roots capability';
  const mode = request.params?.mode === 'url' ? 'url' : 'form';
  const elicitation = capabilities?.elicitation as { form?: object; url?: object } | undefined;
  if (!elicitation) return 'the elicitation capability';
  // `elicitation: {}` is form mode (the SDK reads it so too).
  const supported = mode === 'url' ? !!elicitation.url : !!elicitation.form || Object.keys(elicitation).length === 0;
  return supported ? undefined : `${mode}-mode elicitation`;
}

/** An upstream's configured roots as a `roots/list` result. */
function configuredRoots(upstream: UpstreamConnection): Record<string, unknown> {
  return { roots: upstream.roots.map((uri) => ({ uri, name: basename(fileURLToPath(uri)) || uri })) };
}
