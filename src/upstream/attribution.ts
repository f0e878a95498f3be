import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  type ClientCapabilities,
  type LoggingMessageNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConfig } from '../core/config/config';

/** The client request an upstream request is made for: where the upstream's requests and logs go back. */
export type CallOrigin = {
  readonly connectionId: string;
  readonly sessionId: string;
  /** The client request served; absent for what a session's own instance sends unprompted. */
  readonly requestId?: string | number;
};

/**
 * On whose behalf the upstream sent a message. Known from the request stream it came on
 * (Streamable HTTP answers a request on that request's own stream); otherwise from the only
 * session with requests in flight; otherwise unknown, with the reason.
 */
export type Attribution =
  | { origin: CallOrigin; via: 'request stream' | 'only session in flight' | 'session instance' }
  | { origin?: undefined; why: string };

/** Requests an upstream may send its client; the hub answers them on behalf of a session. */
export type ClientBoundRequest = { method: 'sampling/createMessage' | 'elicitation/create' | 'roots/list'; params?: Record<string, unknown> };

/** What the hub does with messages an upstream sends to its client. */
export type UpstreamMessageHandlers = {
  clientRequest(request: ClientBoundRequest, attribution: Attribution, signal: AbortSignal): Promise<Record<string, unknown>>;
  logMessage(params: LoggingMessageNotification['params'], attribution: Attribution): void;
  resourceUpdated(uri: string): void;
};

export function isClientBound(method: string): method is ClientBoundRequest['method'] {
  return method === 'sampling/createMessage' || method === 'elicitation/create' || method === 'roots/list';
}

/**
 * What the hub's client offers an upstream: only what it can really serve, since a server may
 * list more tools to a client that can sample or elicit. Roots it always answers (the session's,
 * or the upstream's configured `roots`). Sampling and elicitation need a session to ask: an
 * upstream whose requests the hub can attribute (Streamable HTTP, per-session instances, or
 * `attribution: "single-flight"`) gets them; a strict stdio or SSE one would only be refused.
 */
export function announcedCapabilities(config: UpstreamConfig): ClientCapabilities {
  const roots = { roots: { listChanged: true } };
  const attributable = config.type === 'http' || config.perSession !== undefined || config.attribution === 'single-flight';
  return attributable ? { sampling: {}, elicitation: { form: {}, url: {} }, ...roots } : roots;
}

/**
 * Who an upstream's messages are for. Owns the origins of the requests in flight on one upstream
 * and the attribution of each client-bound request it has sent, fixed when the request arrived.
 */
export class Attributor {
  /** Origins of requests in flight, oldest first. */
  private readonly inFlight = new Set<CallOrigin>();
  /** Attribution of each client-bound request, fixed when it arrives on the wire. */
  private readonly clientRequests = new Map<string | number, Attribution>();
  /** Whose request stream the message being handed over now came on (see `deliverFor`). */
  private delivering?: CallOrigin;

  constructor(private readonly config: UpstreamConfig) {}

  /** True while requests are in flight. */
  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** Runs `send` as the request of `origin`: in flight until it settles. */
  async serve<T>(origin: CallOrigin | undefined, send: () => Promise<T>): Promise<T> {
    if (!origin) return send();
    this.inFlight.add(origin);
    try {
      return await send();
    } finally {
      this.inFlight.delete(origin);
    }
  }

  /**
   * Hands over a message that came on the response stream of `origin`'s request: whatever
   * `deliver` attributes while it runs (synchronously, as the transport's incoming hook does) is
   * attributed to that origin. An explicit hand-over rather than an AsyncLocalStorage, which on
   * Node 20 would put a hook on every promise the hub makes.
   */
  deliverFor(origin: CallOrigin | undefined, deliver: () => void): void {
    const outer = this.delivering;
    this.delivering = origin;
    try {
      deliver();
    } finally {
      this.delivering = outer;
    }
  }

  /**
   * On whose behalf the message being read now was sent (see `Attribution`). Only what the hub
   * knows counts: the response stream it came on. A single-stream upstream says nothing of the
   * sort, so its message goes to nobody unless the config opts in to `single-flight`, which takes
   * the one session with requests in flight (the window: a message the upstream sends late for
   * another session while that one waits reaches it).
   */
  attribute(): Attribution {
    const { id, type } = this.config;
    if (this.delivering) return { origin: this.delivering, via: 'request stream' };
    const sessions = new Set([...this.inFlight].map((origin) => origin.sessionId));
    if (sessions.size === 0) return { why: `upstream '${id}' sent it while serving no session's request` };
    if (this.config.attribution !== 'single-flight') {
      return {
        why: `upstream '${id}' sent it on its ${type} stream, which does not say which session it belongs to (set "attribution": "single-flight" on the upstream to give it to the one session with requests in flight, or make it perSession)`,
      };
    }
    if (sessions.size === 1) return { origin: [...this.inFlight].at(-1) as CallOrigin, via: 'only session in flight' };
    return {
      why: `requests of ${sessions.size} sessions were in flight on upstream '${id}' and its ${type} transport does not tell which one this belongs to`,
    };
  }

  /** A client-bound request on the wire: its attribution is fixed now, before the SDK dispatches it a microtask late. */
  noteClientRequest(requestId: string | number): void {
    this.clientRequests.set(requestId, this.attribute());
  }

  /** Forgets the attributions of client-bound requests of a connection that is gone. */
  forgetClientRequests(): void {
    this.clientRequests.clear();
  }

  /**
   * Answers the upstream's sampling, elicitation and roots requests through `handlers`, each
   * with the attribution fixed when it arrived. The SDK validates requests and results against
   * these schemas on the way. Only for what was announced: the SDK refuses a handler for an
   * undeclared capability.
   */
  answerClientRequests(client: Client, capabilities: ClientCapabilities, handlers: UpstreamMessageHandlers): void {
    const handle = (request: ClientBoundRequest, extra: { requestId: string | number; signal: AbortSignal }) => {
      const attribution = this.clientRequests.get(extra.requestId) ?? this.attribute();
      this.clientRequests.delete(extra.requestId);
      return handlers.clientRequest(request, attribution, extra.signal);
    };
    if (capabilities.sampling) client.setRequestHandler(CreateMessageRequestSchema, (request, extra) => handle(request, extra) as never);
    if (capabilities.elicitation) client.setRequestHandler(ElicitRequestSchema, (request, extra) => handle(request, extra) as never);
    if (capabilities.roots) client.setRequestHandler(ListRootsRequestSchema, (request, extra) => handle(request, extra) as never);
  }
}
