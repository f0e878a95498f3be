import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ClientRequest, Implementation, JSONRPCMessage, LoggingMessageNotification, ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { McpLogLevel } from '../core/infra/logLevels';
import { catalogCategories, type UpstreamCatalog } from '../core/scoping/catalog';
import { defaultSettings, type UpstreamConfig } from '../core/config/config';
import { UpstreamUnavailableError } from '../core/infra/errors';
import { Emitter } from '../core/infra/events';
import type { Disposable } from '../core/infra/lifecycle';
import { errorMessage, type Logger } from '../core/infra/logger';
import { HookedTransport } from '../core/infra/hookedTransport';
import { announcedCapabilities, Attributor, isClientBound, type UpstreamMessageHandlers } from './attribution';
import { CatalogStore } from './catalogStore';
import { targetOf, type PostTarget } from './directPost';
import { ForwardedRequests, type HttpChannel, type UpstreamRequestOptions } from './forwardedRequests';
import { LineTooLongError } from './lineBuffer';
import { describeAuthError, howToSignIn, type SignInState, type UpstreamAuth } from './oauth/upstreamAuth';
import type { PassthroughResult } from './passthrough';
import { ReconnectPolicy, startTimeoutMs } from './reconnectPolicy';
import { RenewedOnReconnect } from './renewedOnReconnect';
import { describeUpstreamError, isForgottenSession, isHookedHttp, pidOf, TransportFactory, type InstanceOptions } from './transportFactory';

/** `needs-auth`: a remote upstream the user must sign in to; the hub does not retry until they do. */
export type UpstreamState = 'starting' | 'ready' | 'failed' | 'needs-auth' | 'stopped';

export type UpstreamStatus = {
  state: UpstreamState;
  lastError?: string;
  /** When the current state began (ms since epoch). */
  since: number;
  /**
   * Failures in a row: failed connects, and connections lost before the upstream stayed up for
   * the stable period, so one that dies right after initialize backs off like one that never starts.
   */
  failures: number;
  /** While failed: when the next attempt is due (ms since epoch). */
  nextAttemptAt?: number;
  serverInfo?: Implementation;
  /** What the server's initialize result said about using it, from its latest connection. */
  instructions?: string;
  pid?: number;
  /** While `needs-auth`: why, and the URL to open to sign in (when a sign-in has been started). */
  signIn?: { reason: string; authorizationUrl?: string };
};

const clientInfo = { name: 'mcp-session-hub', version: '0.1.0' };

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
  /** A remote upstream's OAuth client, shared by all its connections; absent, the hub never signs in to it. */
  auth?: UpstreamAuth;
};

/**
 * One MCP client connection to one upstream server, and its lifecycle: it connects, reconnects
 * with backoff when the connection drops (`ReconnectPolicy`), and re-initializes when an HTTP
 * upstream forgets its connection (404). It never throws into the hub: failures become status.
 * Each other job has its own owner, made here and kept for the connection's life:
 * `TransportFactory` (how to reach the upstream), `CatalogStore` (what it offers),
 * `ForwardedRequests` (timeout, progress, cancellation), `Attributor` (whom its messages are
 * for), `RenewedOnReconnect` (subscriptions and log level).
 */
export class UpstreamConnection implements Disposable {
  private client?: Client;
  private current: UpstreamStatus = { state: 'starting', since: Date.now(), failures: 0 };
  private rootsValue: readonly string[];
  private settleFirstAttempt!: () => void;
  /** Settles when the first connection attempt has ended, ready or failed (or the connection closed). */
  readonly firstAttempt = new Promise<void>((resolve) => (this.settleFirstAttempt = resolve));
  private capabilities: ServerCapabilities = {};
  private connecting?: Promise<void>;
  private disposed = false;
  private readonly readyWaiters = new Set<() => void>();
  /** Streamable HTTP only: the connected SDK transport and where forwarded requests are POSTed. */
  private http?: HttpChannel;
  /** Where forwarded POSTs go, with keep-alive sockets kept across reconnects and closed with the connection. */
  private postTarget?: PostTarget;

  private readonly transports: TransportFactory;
  private readonly reconnect: ReconnectPolicy;
  private readonly catalogStore = new CatalogStore();
  private readonly attributor: Attributor;
  private readonly requests: ForwardedRequests;
  private readonly renewed: RenewedOnReconnect;

  private readonly statusEmitter = new Emitter<UpstreamStatus>();
  readonly onDidChangeStatus = this.statusEmitter.event;
  readonly onDidChangeCatalog = this.catalogStore.onDidChange;

  constructor(
    readonly config: UpstreamConfig,
    private readonly options: UpstreamConnectionOptions,
  ) {
    this.rootsValue = config.roots;
    const maxMessageBytes = () => options.maxMessageBytes?.() ?? defaultSettings.maxUpstreamMessageBytes;
    this.transports = new TransportFactory(config, { logger: options.logger, instance: options.instance, maxMessageBytes, auth: options.auth });
    this.reconnect = new ReconnectPolicy(options);
    this.attributor = new Attributor(config);
    this.requests = new ForwardedRequests(config.id, config.timeoutMs, maxMessageBytes, this.attributor);
    this.renewed = new RenewedOnReconnect(config.timeoutMs, options.logger);
    this.signInSubscription = options.auth?.onDidChange((state) => this.onSignInChange(state));
  }

  private readonly signInSubscription?: Disposable;

  get id(): string {
    return this.config.id;
  }

  get status(): UpstreamStatus {
    return this.current;
  }

  get catalog(): UpstreamCatalog {
    return this.catalogStore.catalog;
  }

  get serverCapabilities(): ServerCapabilities {
    return this.capabilities;
  }

  /** True while requests are in flight. */
  get busy(): boolean {
    return this.attributor.busy;
  }

  /** The private directory of this instance, if its config uses `${instanceDir}`. */
  get instanceDir(): string | undefined {
    return this.transports.instanceDir;
  }

  private get startTimeoutMs(): number {
    return startTimeoutMs(this.config.timeoutMs);
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
   * Sends a request to the upstream (see `ForwardedRequests.send`). Waits for a connection that
   * is still starting (up to the upstream's start timeout), and retries once after
   * re-initializing when an HTTP upstream says 404.
   */
  async request(request: ClientRequest, options: UpstreamRequestOptions = {}): Promise<PassthroughResult> {
    // Ready, as it nearly always is: no promise to wait on.
    const client = this.current.state === 'ready' && this.client ? this.client : await this.readyClient(options.signal);
    try {
      return await this.requests.send(client, this.http, request, options);
    } catch (error) {
      if (!isForgottenSession(error)) throw error;
      this.options.logger.info('upstream forgot its session (404); re-initializing');
      await this.teardown();
      await this.connect();
      const again = await this.readyClient(options.signal);
      return this.requests.send(again, this.http, request, options);
    }
  }

  /**
   * The server's capabilities once it is ready: waits while it starts (a per-session instance
   * assigned a moment ago knows none yet), and throws, as a request would, when it cannot be reached.
   */
  async readyCapabilities(signal?: AbortSignal): Promise<ServerCapabilities> {
    if (this.current.state !== 'ready' || !this.client) await this.readyClient(signal);
    return this.capabilities;
  }

  /** Subscribes the upstream to a resource; kept across reconnects until `unsubscribe`. */
  async subscribe(uri: string, signal?: AbortSignal): Promise<void> {
    this.renewed.addSubscription(uri);
    try {
      await this.request({ method: 'resources/subscribe', params: { uri } }, { signal });
    } catch (error) {
      this.renewed.dropSubscription(uri);
      throw error;
    }
  }

  async unsubscribe(uri: string): Promise<void> {
    if (!this.renewed.dropSubscription(uri) || this.current.state !== 'ready') return;
    await this.request({ method: 'resources/unsubscribe', params: { uri } });
  }

  /** The level the upstream should log at (the most verbose any of its sessions wants); kept across reconnects. */
  setLogLevel(level: McpLogLevel): void {
    if (!this.renewed.setLogLevel(level)) return;
    if (this.current.state === 'ready' && this.client) void this.renewed.applyLogLevel(this.client, this.capabilities);
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

  /**
   * Takes progress, log and resource-update notifications off the wire before the SDK's
   * protocol layer sees them, and fixes the attribution of client-bound requests as they
   * arrive. The SDK dispatches notifications a microtask late but responses at once, so a
   * notification that arrives with the result would otherwise be sent after the result.
   */
  private routeIncoming(message: JSONRPCMessage): boolean {
    if (!('method' in message)) return false;
    if ('id' in message) {
      if (isClientBound(message.method)) this.attributor.noteClientRequest(message.id);
      return false;
    }
    const { method, params } = message;
    const handlers = this.options.handlers;
    if (method === 'notifications/progress') return this.requests.routeProgress(params);
    if (method === 'notifications/message' && handlers && params) {
      handlers.logMessage(params as LoggingMessageNotification['params'], this.attributor.attribute());
      return true;
    }
    if (method === 'notifications/resources/updated' && handlers && typeof params?.uri === 'string') {
      handlers.resourceUpdated(params.uri);
      return true;
    }
    return false;
  }

  private async readyClient(signal?: AbortSignal): Promise<Client> {
    if (this.current.state === 'failed' && this.reconnect.restartOnDemand && !this.disposed && this.backoffLeftMs() === 0) {
      this.options.logger.info(`restarting after: ${this.current.lastError ?? 'failure'}`);
      void this.connect();
    }
    if (this.current.state === 'starting') await this.waitForReady(this.startTimeoutMs, signal);
    if (this.current.state === 'needs-auth') throw new UpstreamUnavailableError(this.id, this.current.lastError ?? 'needs sign-in');
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
    this.transports.stderr.reset();
    this.setStatus({ state: 'starting', lastError: this.current.lastError, nextAttemptAt: undefined });
    const { handlers } = this.options;
    const capabilities = handlers ? announcedCapabilities(this.config) : {};
    const client = new Client({ ...clientInfo, name: this.options.clientName ?? clientInfo.name }, { capabilities });
    if (handlers) this.attributor.answerClientRequests(client, capabilities, handlers);
    await this.options.auth?.prepare();
    this.options.auth?.takeLastUnauthorized(); // an earlier 401 is not this attempt's
    const transport = new HookedTransport(this.transports.create(), { incoming: (message) => this.routeIncoming(message) });
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
        this.postTarget ??= targetOf(new URL(this.config.url), this.config.headers, this.options.auth);
        this.http = { transport, target: this.postTarget };
      }
      this.capabilities = client.getServerCapabilities() ?? {};
      const stillCurrent = () => this.client === client;
      this.catalogStore.follow(client, { timeoutMs: this.config.timeoutMs, stillCurrent, ready: () => this.current.state === 'ready', logger: this.options.logger });
      await this.catalogStore.fetch(client, catalogCategories, this.startTimeoutMs, stillCurrent);
      await this.renewed.renew(client, this.capabilities);
      this.setStatus({ state: 'ready', lastError: undefined, signIn: undefined, serverInfo: client.getServerVersion(), instructions: client.getInstructions(), pid: pidOf(transport.inner) });
      this.reconnect.connected(() => {
        if (this.client === client) this.current = { ...this.current, failures: 0 };
      });
      this.catalogStore.publish();
      this.options.logger.info(`ready (${this.catalogStore.describe()})`);
    } catch (error) {
      if (this.client === client) this.client = undefined;
      await client.close().catch(() => undefined);
      if (this.disposed) return;
      const auth = this.options.auth;
      if (auth && (error instanceof UnauthorizedError || !auth.signInState.signedIn)) {
        this.needsSignIn(auth.signInState.signedIn ? { reason: describeAuthError(error) } : auth.signInState);
        return;
      }
      const unauthorized = auth?.takeLastUnauthorized();
      if (auth && unauthorized && !(error instanceof StreamableHTTPError)) {
        // The upstream said 401. Where it offers no OAuth sign-in the hub could find, its 401 is the
        // error; where it does, why signing in failed (a resource that is not this URL, say).
        const message = auth.offersOAuth ? `${unauthorized}; signing in failed: ${describeAuthError(error)}` : unauthorized;
        if (!auth.offersOAuth) this.options.logger.info(`no OAuth sign-in found after its 401: ${describeAuthError(error)}`);
        this.options.logger.warn(`failed to connect: ${message}`);
        this.fail(message);
        return;
      }
      if (this.transports.fallBackToSse(error)) {
        this.options.logger.info(`Streamable HTTP refused (${describeUpstreamError(error)}); trying legacy SSE`);
        return this.connectOnce();
      }
      const message = this.transports.stderr.explain(describeUpstreamError(error));
      this.options.logger.warn(`failed to connect: ${message}`);
      this.fail(message);
    }
  }

  /** The upstream needs the user to sign in: no retry until they do (a retry would only open another sign-in). */
  private needsSignIn(signIn: { reason: string; authorizationUrl?: string }): void {
    this.reconnect.cancel();
    const lastError = `needs sign-in (${signIn.reason}); ${howToSignIn(this.id)}`;
    this.setStatus({ state: 'needs-auth', lastError, signIn: { reason: signIn.reason, authorizationUrl: signIn.authorizationUrl }, pid: undefined, nextAttemptAt: undefined });
  }

  private onSignInChange(state: SignInState): void {
    if (this.disposed) return;
    if (state.signedIn) {
      if (this.current.state !== 'needs-auth') return;
      this.current = { ...this.current, failures: 0, signIn: undefined };
      void this.connect();
      return;
    }
    // A connection under way ends in UnauthorizedError, and says so then.
    if (this.current.state === 'starting') return;
    if (this.current.state === 'ready') void this.teardown();
    this.needsSignIn(state);
  }

  private onConnectionLost(reason: string): void {
    if (this.disposed) return;
    this.client = undefined;
    this.http = undefined;
    const message = this.transports.stderr.explain(reason);
    this.options.logger.warn(message);
    this.fail(message);
  }

  /** One more failure in a row, and the next attempt when the reconnect policy says. */
  private fail(message: string): void {
    this.reconnect.lost();
    const failures = this.current.failures + 1;
    const delay = this.reconnect.delayAfter(failures);
    this.setStatus({ state: 'failed', lastError: message, failures, pid: undefined, nextAttemptAt: Date.now() + delay });
    if (!this.disposed) this.reconnect.schedule(delay, () => void this.connect());
  }

  private async teardown(): Promise<void> {
    this.reconnect.cancel();
    const client = this.client;
    this.client = undefined;
    this.http = undefined;
    this.attributor.forgetClientRequests();
    if (client) await client.close().catch(() => undefined);
  }

  /** Closes the connection; a stdio child gets stdin closed, then SIGTERM, then SIGKILL (the SDK's escalation). */
  async close(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.signInSubscription?.dispose();
    this.settleFirstAttempt();
    await this.teardown();
    this.postTarget?.agent.destroy();
    this.transports.removeInstanceDir();
    this.setStatus({ state: 'stopped', pid: undefined });
    this.statusEmitter.dispose();
    this.catalogStore.dispose();
  }

  dispose(): void {
    void this.close();
  }
}
