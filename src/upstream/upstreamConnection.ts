import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  ListRootsRequestSchema,
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type ClientCapabilities,
  type ClientRequest,
  type Implementation,
  type JSONRPCMessage,
  type LoggingMessageNotification,
  type Progress,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import type { McpLogLevel } from '../core/logLevels';
import { catalogCategories, type CatalogCategory, type UpstreamCatalog } from '../core/catalog';
import { defaultSettings, type StdioUpstreamConfig, type UpstreamConfig } from '../core/config';
import { fillInstanceVariables, usesInstanceVariable, type InstanceVariables } from '../core/instanceVariables';
import { UpstreamUnavailableError } from '../core/errors';
import { Emitter } from '../core/events';
import type { Disposable } from '../core/lifecycle';
import { errorMessage, type Logger } from '../core/logger';
import { HookedTransport } from '../core/hookedTransport';
import { CatalogStore } from './catalogStore';
import { LineTooLongError } from './lineBuffer';
import { GroupStdioTransport } from './groupStdioTransport';
import { resolveLaunch } from './launch';
import { postRequest, targetOf, type PostTarget } from './directPost';
import { createOwnSignalFetch } from './ownSignalFetch';
import { passthroughResult, type PassthroughResult } from './passthrough';

/** A stderr line that says why: `Error: ENOENT: …`, `fatal: …`, `cannot open …`. */
const reasonLine = /\b(error|exception|fatal|cannot|can't|denied|not found|no such)\b/i;

export type UpstreamState = 'starting' | 'ready' | 'failed' | 'stopped';

export type UpstreamStatus = {
  state: UpstreamState;
  lastError?: string;
  /** When the current state began (ms since epoch). */
  since: number;
  /**
   * Failures in a row: failed connects, and connections lost before the upstream stayed up for
   * `stablePeriodMs`, so one that dies right after initialize backs off like one that never starts.
   */
  failures: number;
  /** While failed: when the next attempt is due (ms since epoch). */
  nextAttemptAt?: number;
  serverInfo?: Implementation;
  pid?: number;
};

export { passthroughResult, type PassthroughResult };

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

export type UpstreamRequestOptions = {
  signal?: AbortSignal;
  /** Progress the upstream reports for this request, in order, before the result. */
  onprogress?: (progress: Progress) => void;
  /** Who this request serves; what the upstream sends while serving it is attributed to them. */
  origin?: CallOrigin;
};

/** What the hub does with messages an upstream sends to its client. */
export type UpstreamMessageHandlers = {
  clientRequest(request: ClientBoundRequest, attribution: Attribution, signal: AbortSignal): Promise<Record<string, unknown>>;
  logMessage(params: LoggingMessageNotification['params'], attribution: Attribution): void;
  resourceUpdated(uri: string): void;
};

/** The request being served, as seen by code that runs while its response stream is read. */
const servingRequest = new AsyncLocalStorage<{ upstream: UpstreamConnection; origin: CallOrigin }>();

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

/** setTimeout's ceiling: what the hub gives the SDK where its own timeout, or none, applies. */
export const maxTimerMs = 2_147_483_647;

const clientInfo = { name: 'mcp-session-hub', version: '0.1.0' };
const backoffBaseMs = 500;
const backoffMaxMs = 30_000;
/** The least time an upstream gets to start, whatever its per-request timeout. */
const minStartTimeoutMs = 30_000;
/** How long an upstream must stay up before its failures are forgiven. */
const stablePeriodMs = 30_000;

export type UpstreamConnectionOptions = {
  logger: Logger;
  clientName?: string;
  /** Where sampling, elicitation, roots, logs and resource updates from the upstream go. */
  handlers?: UpstreamMessageHandlers;
  /**
   * Per-session instances: after a crash, restart when the session next calls (with a notice in
   * the log) instead of reconnecting in the background for nobody.
   */
  restartOnDemand?: boolean;
  /** Test hook: the first reconnect delay. */
  backoffBaseMs?: number;
  /** Largest message taken from the upstream (`hub.maxUpstreamMessageBytes`); read when used, so a reload applies. */
  maxMessageBytes?: () => number;
  /** Set for an instance of a per-session upstream (and its probe): fills in `${sessionId}` and `${instanceDir}`. */
  instance?: InstanceOptions;
};

export type InstanceOptions = {
  /** The logical session served, read when the process starts. */
  sessionId: () => string;
};

/**
 * One MCP client connection to one upstream server: it connects, lists the upstream's catalog,
 * keeps it fresh on `list_changed`, reconnects with backoff when the connection drops, and
 * re-initializes when an HTTP upstream forgets its session (404). It never throws into the hub:
 * failures become status.
 */
export class UpstreamConnection implements Disposable {
  private client?: Client;
  private current: UpstreamStatus = { state: 'starting', since: Date.now(), failures: 0 };
  private readonly catalogStore = new CatalogStore();
  private rootsValue: readonly string[];
  private instanceDirValue?: string;
  private settleFirstAttempt!: () => void;
  /** Settles when the first connection attempt has ended, ready or failed (or the connection closed). */
  readonly firstAttempt = new Promise<void>((resolve) => (this.settleFirstAttempt = resolve));
  private capabilities: ServerCapabilities = {};
  private reconnectTimer?: NodeJS.Timeout;
  private connecting?: Promise<void>;
  private disposed = false;
  private readonly readyWaiters = new Set<() => void>();
  private readonly stderrTail: string[] = [];
  /** The first line of this attempt's stderr that reads as the reason (a crash's stack ends far below it). */
  private stderrReason?: string;
  /** Forgives past failures once the upstream has stayed up for `stablePeriodMs`. */
  private stableTimer?: NodeJS.Timeout;
  private readonly progressRoutes = new Map<string, (progress: Progress) => void>();
  private progressSequence = 0;
  /** Origins of requests in flight, oldest first. */
  private readonly inFlight = new Set<CallOrigin>();
  /** Attribution of each client-bound request, fixed when it arrives on the wire. */
  private readonly clientRequestAttribution = new Map<string | number, Attribution>();
  private readonly subscribedUris = new Set<string>();
  private logLevel?: McpLogLevel;
  /** Streamable HTTP only: the connected SDK transport (whose session id and protocol version `post` sends), behind the hub's hooks. */
  private httpTransport?: HookedTransport<StreamableHTTPClientTransport>;
  /** Where `postRequest` goes, with keep-alive sockets kept across reconnects and closed with the connection. */
  private postTarget?: PostTarget;
  private directSequence = 0;
  /** A `url`-only upstream whose Streamable HTTP initialize was refused: it is spoken to over legacy SSE. */
  private fellBackToSse = false;

  private readonly statusEmitter = new Emitter<UpstreamStatus>();
  readonly onDidChangeStatus = this.statusEmitter.event;
  private readonly catalogEmitter = new Emitter<UpstreamCatalog>();
  readonly onDidChangeCatalog = this.catalogEmitter.event;

  constructor(
    readonly config: UpstreamConfig,
    private readonly options: UpstreamConnectionOptions,
  ) {
    this.rootsValue = config.roots;
  }

  get id(): string {
    return this.config.id;
  }

  get status(): UpstreamStatus {
    return this.current;
  }

  get catalog(): UpstreamCatalog {
    return this.catalogStore.catalog;
  }

  /**
   * How long starting may take (spawn, initialize, first listing): a short per-request `timeout`
   * must not fail a server that is slow to start on a busy machine or on a cold npx cache.
   */
  private get startTimeoutMs(): number {
    return Math.max(this.config.timeoutMs, minStartTimeoutMs);
  }

  private get maxMessageBytes(): number {
    return this.options.maxMessageBytes?.() ?? defaultSettings.maxUpstreamMessageBytes;
  }

  get serverCapabilities(): ServerCapabilities {
    return this.capabilities;
  }

  start(): void {
    void this.connect();
  }

  /** Reconnects now, whatever the state; used by the admin API's restart. */
  async restart(): Promise<void> {
    this.current = { ...this.current, failures: 0, nextAttemptAt: undefined };
    await this.teardown();
    await this.connect();
  }

  /**
   * Sends a request to the upstream. Waits for a connection that is still starting (up to the
   * upstream's timeout), and retries once after re-initializing when an HTTP upstream says 404.
   * The timeout restarts on every progress notification; when it expires, or `signal` aborts,
   * the upstream gets `notifications/cancelled`.
   */
  async request(request: ClientRequest, options: UpstreamRequestOptions = {}): Promise<PassthroughResult> {
    const client = await this.readyClient(options.signal);
    try {
      return await this.send(client, request, options);
    } catch (error) {
      if (!(error instanceof StreamableHTTPError && error.code === 404)) throw error;
      this.options.logger.info('upstream forgot its session (404); re-initializing');
      await this.teardown();
      await this.connect();
      return this.send(await this.readyClient(options.signal), request, options);
    }
  }

  private async send(client: Client, request: ClientRequest, options: UpstreamRequestOptions): Promise<PassthroughResult> {
    const { timeoutMs } = this.config;
    // One controller for the deadline and the caller's signal (AbortSignal.any costs more per call).
    const deadline = new AbortController();
    const { signal } = deadline;
    const expire = () => deadline.abort(new McpError(ErrorCode.RequestTimeout, `upstream '${this.id}' did not answer within ${timeoutMs} ms`));
    const callerAborted = () => deadline.abort(options.signal?.reason);
    if (options.signal?.aborted) callerAborted();
    else options.signal?.addEventListener('abort', callerAborted, { once: true });
    let timer = setTimeout(expire, timeoutMs);
    let token: string | undefined;
    let outgoing = request;
    if (options.onprogress) {
      // The hub's own token: progress is routed at the transport, in order with the result.
      token = `hub-progress-${++this.progressSequence}`;
      const forward = options.onprogress;
      this.progressRoutes.set(token, (progress) => {
        clearTimeout(timer);
        timer = setTimeout(expire, timeoutMs);
        forward(progress);
      });
      const params = (request.params ?? {}) as Record<string, unknown>;
      const meta = (params._meta ?? {}) as Record<string, unknown>;
      outgoing = { ...request, params: { ...params, _meta: { ...meta, progressToken: token } } } as ClientRequest;
    }
    const { origin } = options;
    if (origin) this.inFlight.add(origin);
    try {
      const { httpTransport, postTarget } = this;
      const sending = () =>
        httpTransport && postTarget
          ? this.post(client, httpTransport, postTarget, outgoing, signal)
          : client.request(outgoing, passthroughResult, { signal, timeout: maxTimerMs });
      // Code that reads this request's response stream runs inside this context: that is how
      // what the upstream sends on it is attributed to the origin.
      return await (origin ? servingRequest.run({ upstream: this, origin }, sending) : sending());
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', callerAborted);
      if (token) this.progressRoutes.delete(token);
      if (origin) this.inFlight.delete(origin);
    }
  }

  /**
   * A forwarded request to a Streamable HTTP upstream, sent with `postRequest` rather than the
   * SDK's client (see there why). Whatever else comes on its stream goes through the SDK's
   * transport handler, as if the SDK had read it; aborting sends `notifications/cancelled`.
   */
  private async post(client: Client, transport: HookedTransport<StreamableHTTPClientTransport>, target: PostTarget, request: ClientRequest, signal: AbortSignal): Promise<PassthroughResult> {
    const id = `hub-${++this.directSequence}`;
    const headers: Record<string, string> = {};
    if (transport.inner.sessionId) headers['mcp-session-id'] = transport.inner.sessionId;
    if (transport.inner.protocolVersion) headers['mcp-protocol-version'] = transport.inner.protocolVersion;
    // A client's trace context goes on as W3C headers too, so an HTTP upstream's tracing continues it.
    const meta = (request.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
    for (const name of ['traceparent', 'tracestate'] as const) if (typeof meta?.[name] === 'string') headers[name] = meta[name];
    const serving = servingRequest.getStore();
    const receive = (message: JSONRPCMessage) => transport.receive(message);
    try {
      const answer = await postRequest({
        target,
        headers,
        id,
        body: JSON.stringify({ jsonrpc: '2.0', id, method: request.method, params: request.params }),
        maxMessageBytes: this.maxMessageBytes,
        signal,
        onMessage: (message) => (serving ? servingRequest.run(serving, receive, message) : receive(message)),
      });
      if ('error' in answer) throw McpError.fromError(answer.error.code, answer.error.message, answer.error.data);
      const result: unknown = answer.result;
      if (typeof result !== 'object' || result === null || Array.isArray(result)) {
        throw new McpError(ErrorCode.InvalidRequest, `upstream '${this.id}' answered ${request.method} with a result that is not an object`);
      }
      return result as PassthroughResult;
    } catch (error) {
      if (signal.aborted) {
        const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
        void client.notification({ method: 'notifications/cancelled', params: { requestId: id, reason } }).catch(() => undefined);
      }
      throw error;
    }
  }

  /**
   * Takes progress, log and resource-update notifications off the wire before the SDK's
   * protocol layer sees them, and fixes the attribution of client-bound requests as they
   * arrive. The SDK dispatches notifications a microtask late but responses at once, so a
   * notification that arrives with the result would otherwise be sent after the result.
   */
  private routeIncoming(message: JSONRPCMessage): boolean {
    if (!('method' in message)) return false;
    if (!('id' in message)) return this.routeNotification(message.method, message.params);
    if (isClientBound(message.method)) this.clientRequestAttribution.set(message.id, this.attribute());
    return false;
  }

  /** Handles a notification the hub routes itself; false for the ones the SDK should see. */
  private routeNotification(method: string, params: Record<string, unknown> | undefined): boolean {
    const handlers = this.options.handlers;
    if (method === 'notifications/progress') {
      const progress = params as (Progress & { progressToken?: string | number }) | undefined;
      const route = typeof progress?.progressToken === 'string' ? this.progressRoutes.get(progress.progressToken) : undefined;
      if (!route) return false;
      const { progressToken: _token, ...rest } = progress as Progress & { progressToken?: string | number };
      route(rest);
      return true;
    }
    if (method === 'notifications/message' && handlers && params) {
      handlers.logMessage(params as LoggingMessageNotification['params'], this.attribute());
      return true;
    }
    if (method === 'notifications/resources/updated' && handlers && typeof params?.uri === 'string') {
      handlers.resourceUpdated(params.uri);
      return true;
    }
    return false;
  }

  /**
   * On whose behalf the message being read now was sent (see `Attribution`). Only what the hub
   * knows counts: the response stream it came on. A single-stream upstream says nothing of the
   * sort, so its message goes to nobody unless the config opts in to `single-flight`, which takes
   * the one session with requests in flight (the window: a message the upstream sends late for
   * another session while that one waits reaches it).
   */
  private attribute(): Attribution {
    const serving = servingRequest.getStore();
    if (serving?.upstream === this) return { origin: serving.origin, via: 'request stream' };
    const sessions = new Set([...this.inFlight].map((origin) => origin.sessionId));
    if (sessions.size === 0) return { why: `upstream '${this.id}' sent it while serving no session's request` };
    if (this.config.attribution !== 'single-flight') {
      return {
        why: `upstream '${this.id}' sent it on its ${this.config.type} stream, which does not say which session it belongs to (set "attribution": "single-flight" on the upstream to give it to the one session with requests in flight, or make it perSession)`,
      };
    }
    if (sessions.size === 1) return { origin: [...this.inFlight].at(-1) as CallOrigin, via: 'only session in flight' };
    return {
      why: `requests of ${sessions.size} sessions were in flight on upstream '${this.id}' and its ${this.config.type} transport does not tell which one this belongs to`,
    };
  }

  private registerClientRequestHandlers(client: Client, capabilities: ClientCapabilities): void {
    const handlers = this.options.handlers;
    if (!handlers) return;
    const handle = (request: ClientBoundRequest, extra: { requestId: string | number; signal: AbortSignal }) => {
      const attribution = this.clientRequestAttribution.get(extra.requestId) ?? this.attribute();
      this.clientRequestAttribution.delete(extra.requestId);
      return handlers.clientRequest(request, attribution, extra.signal);
    };
    // The SDK validates requests and results against these schemas on the way.
    // Only for what was announced: the SDK refuses a handler for an undeclared capability.
    if (capabilities.sampling) client.setRequestHandler(CreateMessageRequestSchema, (request, extra) => handle(request, extra) as never);
    if (capabilities.elicitation) client.setRequestHandler(ElicitRequestSchema, (request, extra) => handle(request, extra) as never);
    if (capabilities.roots) client.setRequestHandler(ListRootsRequestSchema, (request, extra) => handle(request, extra) as never);
  }

  /** Subscribes the upstream to a resource; kept across reconnects until `unsubscribe`. */
  async subscribe(uri: string, signal?: AbortSignal): Promise<void> {
    this.subscribedUris.add(uri);
    try {
      await this.request({ method: 'resources/subscribe', params: { uri } }, { signal });
    } catch (error) {
      this.subscribedUris.delete(uri);
      throw error;
    }
  }

  async unsubscribe(uri: string): Promise<void> {
    if (!this.subscribedUris.delete(uri) || this.current.state !== 'ready') return;
    await this.request({ method: 'resources/unsubscribe', params: { uri } });
  }

  /** The level the upstream should log at (the most verbose any of its sessions wants); kept across reconnects. */
  setLogLevel(level: McpLogLevel): void {
    if (level === this.logLevel) return;
    this.logLevel = level;
    if (this.current.state === 'ready' && this.client) void this.applyLogLevel(this.client);
  }

  private async applyLogLevel(client: Client): Promise<void> {
    if (!this.logLevel || !this.capabilities.logging) return;
    try {
      await client.request({ method: 'logging/setLevel', params: { level: this.logLevel } }, passthroughResult, { timeout: this.config.timeoutMs });
    } catch (error) {
      this.options.logger.warn(`could not set its log level to ${this.logLevel}: ${errorMessage(error)}`);
    }
  }

  /** After a reconnect the upstream has forgotten the old session's subscriptions and level. */
  private async restoreSessionState(client: Client): Promise<void> {
    await this.applyLogLevel(client);
    for (const uri of this.subscribedUris) {
      try {
        await client.request({ method: 'resources/subscribe', params: { uri } }, passthroughResult, { timeout: this.config.timeoutMs });
      } catch (error) {
        this.options.logger.warn(`could not renew the subscription to ${uri}: ${errorMessage(error)}`);
      }
    }
  }

  /** True while requests are in flight. */
  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** What this upstream is answered when it asks `roots/list` and no session can be asked. */
  get roots(): readonly string[] {
    return this.rootsValue;
  }

  /** New configured roots (a reload): the upstream hears `roots/list_changed` and asks again. */
  setRoots(roots: readonly string[]): void {
    this.rootsValue = roots;
    this.notify('notifications/roots/list_changed').catch((error: unknown) => this.options.logger.debug(`could not tell it the roots changed: ${errorMessage(error)}`));
  }

  /** Sends a notification (such as `roots/list_changed`) if connected; dropped otherwise. */
  async notify(method: string): Promise<void> {
    if (this.current.state === 'ready' && this.client) await this.client.notification({ method } as never);
  }

  private async readyClient(signal?: AbortSignal): Promise<Client> {
    if (this.current.state === 'failed' && this.options.restartOnDemand && !this.disposed && this.backoffLeftMs() === 0) {
      this.options.logger.info(`restarting after: ${this.current.lastError ?? 'failure'}`);
      void this.connect();
    }
    if (this.current.state === 'starting') await this.waitForReady(this.startTimeoutMs, signal);
    if (this.current.state !== 'ready' || !this.client) {
      const left = this.current.state === 'failed' ? this.backoffLeftMs() : 0;
      const next = left > 0 ? `; next try in ${(left / 1000).toFixed(1)} s` : '';
      throw new UpstreamUnavailableError(this.id, `${this.current.lastError ?? this.current.state}${next}`);
    }
    return this.client;
  }

  /** How long until the next attempt is due; 0 when it is due now. */
  private backoffLeftMs(): number {
    return Math.max(0, (this.current.nextAttemptAt ?? 0) - Date.now());
  }

  private waitForReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.readyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.readyWaiters.add(done);
    });
  }

  private setStatus(update: Partial<UpstreamStatus> & { state: UpstreamState }): void {
    const changedState = update.state !== this.current.state;
    this.current = { ...this.current, ...update, since: changedState ? Date.now() : this.current.since };
    if (update.state !== 'starting') for (const waiter of [...this.readyWaiters]) waiter();
    this.statusEmitter.fire(this.current);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.connectOnce()
      .catch((error: unknown) => {
        // What failed before the connection existed (a spawn setting, a directory): a failure like any other.
        this.options.logger.warn(`failed to start: ${errorMessage(error)}`);
        this.fail(errorMessage(error));
      })
      .finally(() => {
        this.connecting = undefined;
        this.settleFirstAttempt();
      });
    return this.connecting;
  }

  private async connectOnce(): Promise<void> {
    if (this.disposed) return;
    if (this.config.cannotStart) {
      // Nothing to retry until the config changes (a reload makes a new connection).
      this.options.logger.warn(`not started: ${this.config.cannotStart}`);
      this.setStatus({ state: 'failed', lastError: `not started: ${this.config.cannotStart}`, nextAttemptAt: undefined });
      return;
    }
    // What the child printed before this attempt says nothing about how this one goes.
    this.stderrTail.length = 0;
    this.stderrReason = undefined;
    this.setStatus({ state: 'starting', lastError: this.current.lastError, nextAttemptAt: undefined });
    const capabilities = this.options.handlers ? announcedCapabilities(this.config) : {};
    const client = new Client({ ...clientInfo, name: this.options.clientName ?? clientInfo.name }, { capabilities });
    this.registerClientRequestHandlers(client, capabilities);
    const transport = new HookedTransport(this.createTransport(), { incoming: (message) => this.routeIncoming(message) });
    let closedDuringConnect = false;
    // Why the transport is about to close, when it says so: a message over the size limit.
    let tooLarge: LineTooLongError | undefined;
    client.onclose = () => {
      if (this.client !== client) {
        closedDuringConnect = true;
        return;
      }
      this.onConnectionLost(tooLarge?.message ?? 'connection closed');
    };
    client.onerror = (error) => {
      this.options.logger.debug(`transport error: ${errorMessage(error)}`);
      if (error instanceof LineTooLongError) tooLarge = error;
    };
    try {
      await client.connect(transport, { timeout: this.startTimeoutMs });
      if (this.disposed || closedDuringConnect) throw new Error('connection closed during initialize');
      this.client = client;
      if (isHookedHttp(transport) && this.config.type === 'http') {
        this.postTarget ??= targetOf(new URL(this.config.url), this.config.headers);
        this.httpTransport = transport;
      }
      this.capabilities = client.getServerCapabilities() ?? {};
      this.registerListChangedHandlers(client);
      await this.catalogStore.fetch(client, catalogCategories, this.startTimeoutMs, () => this.client === client);
      await this.restoreSessionState(client);
      const { inner } = transport;
      const pid = inner instanceof StdioClientTransport || inner instanceof GroupStdioTransport ? (inner.pid ?? undefined) : undefined;
      this.setStatus({ state: 'ready', lastError: undefined, serverInfo: client.getServerVersion(), pid });
      clearTimeout(this.stableTimer);
      this.stableTimer = setTimeout(() => {
        if (this.client === client) this.current = { ...this.current, failures: 0 };
      }, stablePeriodMs);
      this.stableTimer.unref();
      this.catalogEmitter.fire(this.catalogStore.catalog);
      this.options.logger.info(`ready (${this.catalogStore.describe()})`);
    } catch (error) {
      if (this.client === client) this.client = undefined;
      await client.close().catch(() => undefined);
      if (this.disposed) return;
      if (this.shouldFallBackToSse(error)) {
        this.options.logger.info(`Streamable HTTP refused (${describeUpstreamError(error)}); trying legacy SSE`);
        this.fellBackToSse = true;
        return this.connectOnce();
      }
      const message = this.withStderr(describeUpstreamError(error));
      this.options.logger.warn(`failed to connect: ${message}`);
      this.fail(message);
    }
  }

  private onConnectionLost(reason: string): void {
    if (this.disposed) return;
    this.client = undefined;
    this.httpTransport = undefined;
    const message = this.withStderr(reason);
    this.options.logger.warn(message);
    this.fail(message);
  }

  /**
   * One more failure in a row (the stable timer forgives them once the upstream stays up), and
   * the next attempt after a delay that doubles with each: in the background for a shared
   * upstream, on the next call for a per-session instance.
   */
  private fail(message: string): void {
    clearTimeout(this.stableTimer);
    const failures = this.current.failures + 1;
    const base = this.options.backoffBaseMs ?? backoffBaseMs;
    // On demand, the first failure is retried by the next call at once: a crash is not yet a loop.
    const exponent = this.options.restartOnDemand ? failures - 2 : failures - 1;
    const delay = exponent < 0 ? 0 : Math.min(backoffMaxMs, base * 2 ** exponent);
    this.setStatus({ state: 'failed', lastError: message, failures, pid: undefined, nextAttemptAt: Date.now() + delay });
    this.scheduleReconnect(delay);
  }

  private scheduleReconnect(delay: number): void {
    if (this.disposed || this.reconnectTimer || this.options.restartOnDemand) return;
    this.options.logger.debug(`reconnecting in ${delay} ms`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private createTransport(): Transport {
    const { config } = this;
    if (config.type === 'stdio') {
      const launch = resolveLaunch(this.options.instance ? fillInstanceVariables(config, this.instanceVariables(this.options.instance)) : config);
      if (launch.resolvedFrom) this.options.logger.debug(`starting ${launch.resolvedFrom} as node ${launch.args[0]}`);
      // Windows has no process groups: the SDK's transport (which ends the child only) serves there.
      const transport =
        process.platform === 'win32'
          ? new StdioClientTransport({ ...launch, stderr: 'pipe' })
          : new GroupStdioTransport({ ...launch, maxMessageBytes: this.maxMessageBytes });
      transport.stderr?.on('data', (chunk: Buffer) => this.recordStderr(chunk.toString('utf8')));
      return transport;
    }
    const requestInit = { headers: config.headers };
    if (config.type === 'http' && !this.fellBackToSse) {
      return new StreamableHTTPClientTransport(new URL(config.url), { requestInit, fetch: createOwnSignalFetch() });
    }
    return new SSEClientTransport(new URL(config.url), { requestInit, fetch: createOwnSignalFetch() });
  }

  /**
   * The SDK's backwards-compatibility rule, for an entry with only a `url`: a 400, 404 or 405 to
   * the Streamable HTTP initialize means an old server, so try SSE. A 401 or 403 is kept as it is.
   */
  private shouldFallBackToSse(error: unknown): boolean {
    if (this.config.type !== 'http' || !this.config.sseFallback || this.fellBackToSse) return false;
    return error instanceof StreamableHTTPError && [400, 404, 405].includes(error.code ?? 0);
  }

  /**
   * This instance's variables; its directory is made on first use, kept across restarts (a
   * crash does not lose the session's files) and removed when the instance closes.
   */
  private instanceVariables(instance: InstanceOptions): InstanceVariables {
    if (this.instanceDirValue === undefined && usesInstanceVariable(this.config as StdioUpstreamConfig, 'instanceDir')) {
      this.instanceDirValue = mkdtempSync(join(tmpdir(), 'mcp-session-hub-instance-'));
    }
    return { sessionId: instance.sessionId(), instanceDir: this.instanceDirValue ?? '' };
  }

  /** The private directory of this instance, if its config uses `${instanceDir}`. */
  get instanceDir(): string | undefined {
    return this.instanceDirValue;
  }

  /** A failure message with the child's last stderr lines, which usually say why. */
  private withStderr(message: string): string {
    const tail = this.stderrTail.slice(-3);
    const lines = this.stderrReason && !tail.includes(this.stderrReason) ? [this.stderrReason, '…', ...tail] : tail;
    return lines.length ? `${message} (stderr: ${lines.join(' | ')})` : message;
  }

  private recordStderr(text: string): void {
    for (const line of text.split('\n')) {
      const trimmed = line.trim();
      if (!trimmed) continue;
      this.options.logger.debug(`stderr: ${trimmed}`);
      if (this.stderrReason === undefined && reasonLine.test(trimmed)) this.stderrReason = trimmed.slice(0, 300);
      this.stderrTail.push(trimmed.slice(0, 300));
      if (this.stderrTail.length > 10) this.stderrTail.shift();
    }
  }

  private registerListChangedHandlers(client: Client): void {
    const refresh = (categories: CatalogCategory[]) => () => {
      void this.refreshCatalog(client, categories);
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, refresh(['tools']));
    client.setNotificationHandler(PromptListChangedNotificationSchema, refresh(['prompts']));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, refresh(['resources', 'resourceTemplates']));
  }

  private async refreshCatalog(client: Client, categories: CatalogCategory[]): Promise<void> {
    try {
      // Only once ready: the first full listing is still to come, and shows these too.
      if (await this.catalogStore.fetch(client, categories, this.config.timeoutMs, () => this.client === client)) {
        if (this.current.state === 'ready') this.catalogEmitter.fire(this.catalogStore.catalog);
      }
    } catch (error) {
      this.options.logger.warn(`could not refresh ${categories.join(', ')}: ${errorMessage(error)}`);
    }
  }

  private async teardown(): Promise<void> {
    clearTimeout(this.stableTimer);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    this.client = undefined;
    this.httpTransport = undefined;
    this.clientRequestAttribution.clear();
    if (client) await client.close().catch(() => undefined);
  }

  /** Closes the connection; a stdio child gets stdin closed, then SIGTERM, then SIGKILL (the SDK's escalation). */
  async close(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.settleFirstAttempt();
    await this.teardown();
    this.postTarget?.agent.destroy();
    if (this.instanceDirValue) rmSync(this.instanceDirValue, { recursive: true, force: true });
    this.setStatus({ state: 'stopped', pid: undefined });
    this.statusEmitter.dispose();
    this.catalogEmitter.dispose();
  }

  dispose(): void {
    void this.close();
  }
}

function isClientBound(method: string): method is ClientBoundRequest['method'] {
  return method === 'sampling/createMessage' || method === 'elicitation/create' || method === 'roots/list';
}

/**
 * An upstream failure in words a user can act on: an HTTP status keeps its number and the first
 * line of the body the upstream answered (the SDK's own message would read "Error POSTing to
 * endpoint: " for a 401 with an empty body).
 */
export function describeUpstreamError(error: unknown): string {
  if (error instanceof StreamableHTTPError) {
    const detail = error.message.replace(/^Streamable HTTP error: (Error POSTing to endpoint: )?/, '').split('\n')[0].trim().slice(0, 200);
    return (error.code ?? 0) > 0 ? `HTTP ${error.code}${detail ? `: ${detail}` : ''}` : detail;
  }
  return errorMessage(error);
}

function isHookedHttp(transport: HookedTransport): transport is HookedTransport<StreamableHTTPClientTransport> {
  return transport.inner instanceof StreamableHTTPClientTransport;
}
