import { type ClientCapabilities, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { catalogCategories, globalView, ScopedCatalog, virtualServerView, type CatalogCategory, type UpstreamCatalog } from '../core/scoping/catalog';
import { upstreamFingerprint, type HubConfig, type UpstreamConfig } from '../core/config/config';
import { ConfigError } from '../core/infra/errors';
import { Emitter } from '../core/infra/events';
import type { Disposable } from '../core/infra/lifecycle';
import { mostVerbose, type McpLogLevel } from '../core/infra/logLevels';
import { errorMessage, type Logger } from '../core/infra/logger';
import type { OwnershipRecord, OwnershipStore, SharedOwnership, TombstoneRelease } from '../core/sessions/ownershipLedger';
import type { GateCall } from '../core/sessions/safeModeGate';
import { profileFor } from '../core/sessions/safeModeProfiles';
import { SessionRegistry, type Connection, type LogicalSession } from '../core/sessions/sessions';
import { composeInstructions } from '../core/scoping/instructions';
import { metaValue } from '../core/sessions/metaPath';
import { escapedForLog, isUsableConversationId } from '../core/sessions/conversationIds';
import { announcedCapabilities } from '../upstream/attribution';
import { UpstreamConnection, type UpstreamStatus } from '../upstream/upstreamConnection';
import { OAuthCallbackServer } from '../upstream/oauth/callbackServer';
import { MemorySecretStore, type SecretStore } from '../upstream/oauth/secretStore';
import { UpstreamAuth } from '../upstream/oauth/upstreamAuth';
import { ActivityLog, RecentCalls } from '../core/infra/activity';
import { followUpstream, recordSessionEvent } from './activityFeed';
import { buildAdminState, type AdminState } from './adminState';
import { HubMetrics } from './hubMetrics';
import { Telemetry } from './telemetry';
import { InstancePool } from './instancePool';
import { MemoryReclaimer } from './memoryReclaimer';
import { MessageRouter } from './messageRouter';
import { upstreamSpelling } from './upstreamSpelling';
import { RpcError, RpcErrorCode } from '../core/infra/errors';

export const hubVersion = '0.1.0';

/** Key of the global endpoint in the scope table (virtual server ids are never empty). */
const globalKey = '';

export type HubOptions = {
  config: HubConfig;
  /** Where the config came from, for messages (a file path or "embedded default"). */
  configSource: string;
  logger: Logger;
  /** Test hook: first reconnect delay of upstreams. */
  upstreamBackoffMs?: number;
  /** Where ownership is kept beyond this process, and what it held when the hub last stopped; unset: memory only. */
  ownership?: { store?: OwnershipStore; records?: readonly OwnershipRecord[]; shared?: SharedOwnership };
  /** Where OAuth tokens and registrations of remote upstreams are kept; unset, only in memory. */
  secretStore?: SecretStore;
  /** OpenTelemetry traces and metrics; unset, off. */
  telemetry?: Telemetry;
};

/** The store's entry for the sign-in redirect's port: kept, so a registration's redirect URI stays valid across restarts. */
const callbackPortName = 'oauth/callback-port';

/**
 * Whether the hub signs in to a remote upstream with OAuth: when its entry has `oauth`, or sends
 * no `Authorization` header of its own (a PAT or API key in `headers` is the upstream's sign-in).
 */
function usesOAuth(config: UpstreamConfig): boolean {
  if (config.type === 'stdio') return false;
  return config.oauth !== undefined || !Object.keys(config.headers).some((name) => name.toLowerCase() === 'authorization');
}

/** Notifications the hub sends to the connections of a view whose catalog changed. */
const listChangedMethod: Record<CatalogCategory, string> = {
  tools: 'notifications/tools/list_changed',
  resources: 'notifications/resources/list_changed',
  resourceTemplates: 'notifications/resources/list_changed',
  prompts: 'notifications/prompts/list_changed',
};

/**
 * The gateway's core: upstream connections, the scoped catalogs of the global endpoint and of
 * every virtual server, and the sessions. It knows nothing of HTTP: transports hand it
 * connections, and every MCP method of every transport is served by `connectionServer.ts` from
 * the tables here.
 */
export class Hub implements Disposable {
  private configValue: HubConfig;
  /** One connection per upstream: it serves every session, or for a per-session upstream only lists its catalog. */
  private readonly upstreams = new Map<string, UpstreamConnection>();
  /** The OAuth client of each remote upstream that signs in, shared by its connections. */
  private readonly auths = new Map<string, UpstreamAuth>();
  private readonly secretStore: SecretStore;
  private readonly callbacks: OAuthCallbackServer;
  /** The instances of each per-session upstream. */
  private readonly pools = new Map<string, InstancePool>();
  private scopes = new Map<string, ScopedCatalog>();
  /** Upstream connections still in their first connection attempt, with when it began. */
  private readonly firstTryStarted = new WeakMap<UpstreamConnection, number>();
  private lastConfigError?: { at: number; message: string };
  /** Safe-mode switches set at run time from the admin API: per upstream, and for all. */
  private readonly safeModeOverrides = new Map<string, boolean>();
  private safeModeOverrideAll?: boolean;
  readonly sessions: SessionRegistry;
  private readonly router: MessageRouter;
  readonly startedAt = Date.now();
  private closed = false;

  /** What the hub did and decided, one record per event, for every consumer (admin stream, audit file, metrics). */
  readonly activity: ActivityLog;
  readonly telemetry: Telemetry;
  private readonly recentCalls: RecentCalls;
  /** Prometheus metrics, counted from the activity records. */
  readonly metrics: HubMetrics;
  /** Told of output dropped for clients that do not read: collects it soon after (see MemoryReclaimer). */
  readonly memory: MemoryReclaimer;

  private readonly stateEmitter: Emitter<void>;
  /** Fires whenever anything in `state()` may have changed. */
  readonly onDidChangeState;

  constructor(private readonly options: HubOptions) {
    this.configValue = options.config;
    const store = options.secretStore ?? new MemorySecretStore();
    this.secretStore = store;
    this.callbacks = new OAuthCallbackServer(
      options.logger.child('oauth'),
      async () => Number((await store.get(callbackPortName)) ?? '') || undefined,
      (port) => store.set(callbackPortName, String(port)),
    );
    this.stateEmitter = new Emitter<void>((error) => options.logger.error(`state listener failed: ${errorMessage(error)}`));
    this.onDidChangeState = this.stateEmitter.event;
    this.activity = new ActivityLog(options.config.settings.activity, (error) => options.logger.error(`activity listener failed: ${errorMessage(error)}`));
    this.telemetry = options.telemetry ?? Telemetry.off();
    this.metrics = new HubMetrics(this.activity, () => this.state());
    this.recentCalls = new RecentCalls(this.activity);
    this.memory = new MemoryReclaimer(options.logger.child('memory'));
    this.sessions = new SessionRegistry({
      idleTimeoutMs: options.config.settings.sessionIdleTimeoutMs,
      chatIdleTimeoutMs: options.config.settings.chatSessionIdleTimeoutMs,
      retainEndedMs: options.config.settings.retainEndedMs,
      ...(options.ownership ? { ownership: options.ownership } : {}),
      logger: options.logger.child('sessions'),
    });
    this.router = new MessageRouter(this.sessions, options.logger.child('router'));
    this.sessions.onDidChange((event) => {
      if (event.type === 'connection-opened') this.options.logger.info(`session ${event.connection.session.id}: connection ${event.connection.id} opened (${event.connection.transport}, ${event.connection.virtualServer ?? 'global'})`);
      if (event.type === 'connection-closed') {
        this.router.connectionClosed(event.connection.id);
        if (event.connection.logLevel) this.applyLogLevels();
        this.options.logger.info(`connection ${event.connection.id} closed: ${event.reason}`);
      }
      if (event.type === 'session-ended') this.options.logger.info(`session ${event.session.id} ended: ${event.reason}`);
      recordSessionEvent(this.activity, this.telemetry, event);
      this.stateEmitter.fire();
    });
  }

  get config(): HubConfig {
    return this.configValue;
  }

  /** The hub's log, for the layers that serve its sessions. */
  get logger(): Logger {
    return this.options.logger;
  }

  get configSource(): string {
    return this.options.configSource;
  }

  start(): void {
    for (const upstream of this.configValue.upstreams.values()) this.addUpstream(upstream);
    this.rebuildScopes();
  }

  /**
   * Settles when every upstream (of `virtualServer`'s view, or all) has finished its first
   * connection attempt, ready or failed, or once each still trying has been at it for
   * `hub.readyWaitMs`, and names those still in their first try. The ready line waits for it,
   * and so does a list that arrives while an upstream is starting: one slow upstream holds up
   * no one for longer than the bound (and no one at all once it has taken longer), and its
   * catalog, when it comes, reaches sessions as `list_changed`.
   */
  async settled(virtualServer?: string): Promise<string[]> {
    const ids = virtualServer === undefined ? [...this.upstreams.keys()] : (this.scope(virtualServer)?.view.upstreams ?? []);
    const still = () => ids.filter((id) => this.firstTryStarted.has(this.upstreams.get(id) as UpstreamConnection));
    const pending = still().map((id) => this.upstreams.get(id) as UpstreamConnection);
    if (pending.length === 0) return []; // the usual case: no timer
    const waitMs = Math.max(...pending.map((upstream) => (this.firstTryStarted.get(upstream) ?? 0) + this.configValue.settings.readyWaitMs)) - Date.now();
    if (waitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(pending.map((upstream) => upstream.firstAttempt)), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    }
    return still();
  }

  /** The catalog a connection to `virtualServer` (or the global endpoint) may use, or undefined if no such server. */
  scope(virtualServer: string | undefined): ScopedCatalog | undefined {
    return this.scopes.get(virtualServer ?? globalKey);
  }

  hasVirtualServer(id: string): boolean {
    return this.configValue.virtualServers.has(id);
  }

  /**
   * The upstream connection that serves `session` for `upstreamId`: the shared one, or the
   * session's own instance of a per-session upstream (assigned now if it has none; it may still
   * be starting, and requests wait for it). Throws `InstanceLimitError` past the cap, and a
   * JSON-RPC error when the upstream is gone (removed by a reload meanwhile).
   */
  upstreamFor(upstreamId: string, session: LogicalSession): UpstreamConnection {
    const pool = this.pools.get(upstreamId);
    const upstream = pool ? pool.acquire(session) : this.upstreams.get(upstreamId);
    if (!upstream) throw new RpcError(RpcErrorCode.InternalError, `upstream '${upstreamId}' is not configured`);
    return upstream;
  }

  /**
   * The instructions a new connection to `virtualServer` (or the global endpoint) gets: its
   * description and its upstreams' own instructions as last heard (a per-session upstream's from
   * its probe), read when the connection is made, so they follow reconnects and reloads.
   */
  instructionsFor(virtualServer: string | undefined): string | undefined {
    const view = this.scope(virtualServer)?.view;
    if (!view) return undefined;
    const description = virtualServer === undefined ? undefined : this.configValue.virtualServers.get(virtualServer)?.description;
    return composeInstructions(description, view.upstreams.map((upstream) => ({ upstream, instructions: this.upstreamStatus(upstream)?.instructions })), view.naming);
  }

  /** An upstream's connection status (its probe's, for a per-session upstream). */
  upstreamStatus(upstreamId: string): UpstreamStatus | undefined {
    return this.upstreams.get(upstreamId)?.status;
  }

  /** The capabilities the hub's client announces to an upstream (see `announcedCapabilities`). */
  upstreamCapabilities(upstreamId: string): ClientCapabilities {
    const config = this.configValue.upstreams.get(upstreamId);
    if (!config) throw new Error(`no upstream '${upstreamId}'`);
    return announcedCapabilities(config);
  }

  /**
   * The session a request runs in: its connection's, or, when its `_meta` names a chat (the
   * configured `sessionKeys`, such as VS Code's `vscode.conversationId`) and chats are isolated,
   * that chat's session inside the connection's. A chat key can only ever reach a chat of the
   * calling connection's own session. `notice` says when the chat's earlier session had ended.
   */
  sessionForCall(connection: Connection, meta: Record<string, unknown> | undefined, virtualServer: string | undefined): { session: LogicalSession; notice?: string } {
    const { settings } = this.configValue;
    const mode = (virtualServer === undefined ? undefined : this.configValue.virtualServers.get(virtualServer)?.chatSessions) ?? settings.chatSessions;
    if (mode === 'workspace' || !meta) return { session: connection.session };
    for (const key of settings.sessionKeys) {
      const value = metaValue(meta, key);
      if (value === undefined) continue;
      if (!isUsableConversationId(value)) {
        if (!connection.warnedAboutChatKey) {
          connection.warnedAboutChatKey = true;
          this.options.logger.warn(
            `connection ${connection.id}: _meta["${key}"] ${escapedForLog(value)} is not a string of 1-256 characters without control characters or lone surrogates (a usable conversation id); its calls run in the connection's session`,
          );
        }
        return { session: connection.session };
      }
      const { session, ended } = this.sessions.chatSession(connection.session, value);
      return { session, ...(ended ? { notice: `chat session ${value} ended earlier (${ended}); this call starts it fresh` } : {}) };
    }
    return { session: connection.session };
  }

  /** A client's roots changed: its own instances hear it (a shared upstream could not ask whose). */
  rootsChanged(session: LogicalSession): void {
    for (const pool of this.pools.values()) {
      pool.instanceOf(session.id)?.notify('notifications/roots/list_changed').catch((error: unknown) => {
        this.options.logger.debug(`could not forward roots/list_changed to ${pool.config.id}: ${errorMessage(error)}`);
      });
    }
  }

  /** Subscribes a connection to a resource of an upstream (reference-counted towards the upstream). */
  async subscribe(connection: Connection, upstreamId: string, uri: string, signal?: AbortSignal): Promise<void> {
    await this.router.subscribe(connection.id, this.upstreamFor(upstreamId, connection.session), uri, signal);
  }

  async unsubscribe(connection: Connection, upstreamId: string, uri: string): Promise<void> {
    const pool = this.pools.get(upstreamId);
    // A session with no instance has nothing subscribed there; no instance is started to say so.
    const upstream = pool ? pool.instanceOf(connection.session.id) : this.upstreamFor(upstreamId, connection.session);
    if (upstream) await this.router.unsubscribe(connection.id, upstream, uri);
  }

  /** A session's `logging/setLevel`: filters what it receives, and makes its upstreams send at least that much. */
  setLogLevel(connection: Connection, level: McpLogLevel): void {
    connection.logLevel = level;
    this.applyLogLevels();
  }

  /** Each upstream logs at the most verbose level any connection that can reach it asked for. */
  private applyLogLevels(): void {
    const wanted = new Map<string, McpLogLevel[]>();
    for (const connection of this.sessions.allConnections) {
      if (!connection.logLevel) continue;
      for (const upstream of this.scope(connection.virtualServer)?.view.upstreams ?? []) {
        if (!this.pools.has(upstream)) wanted.set(upstream, [...(wanted.get(upstream) ?? []), connection.logLevel]);
      }
    }
    for (const [id, levels] of wanted) {
      const level = mostVerbose(levels);
      if (level) this.upstreams.get(id)?.setLogLevel(level);
    }
    // A session's own instance logs at the level of that session's connections.
    for (const pool of this.pools.values()) {
      pool.forEachInstance((instance, owner) => {
        const levels = [...(this.sessions.session(owner)?.reachableConnections.values() ?? [])].flatMap((c) => c.logLevel ?? []);
        const level = mostVerbose(levels);
        if (level) instance.setLogLevel(level);
      });
    }
  }

  /**
   * Applies a new config without restart. Upstreams whose config is unchanged keep running;
   * sessions of virtual servers whose catalog is unchanged see nothing; the others get
   * `list_changed`; sessions of removed virtual servers are ended. A config whose virtual
   * servers would collide on names (given what upstreams list now) is refused whole.
   */
  async applyConfig(next: HubConfig, source: string): Promise<void> {
    const catalogs = this.currentCatalogs();
    const problems = [...next.virtualServers.values()].flatMap((vs) =>
      new ScopedCatalog(virtualServerView(vs), catalogs).problems.map((message) => ({ path: `virtualServers.${vs.id}`, message })),
    );
    if (problems.length > 0) {
      const error = new ConfigError(source, problems);
      this.recordConfigError(error);
      throw error;
    }

    const previous = this.configValue;
    this.configValue = next;
    this.lastConfigError = undefined;

    const closing: Promise<void>[] = [];
    for (const [id, connection] of this.upstreams) {
      const replacement = next.upstreams.get(id);
      if (replacement && upstreamFingerprint(replacement) === upstreamFingerprint(connection.config)) {
        if (replacement.roots.join('\n') !== connection.roots.join('\n')) connection.setRoots(replacement.roots);
        continue;
      }
      this.upstreams.delete(id);
      this.router.upstreamClosed(connection);
      closing.push(connection.close());
      this.auths.get(id)?.dispose();
      this.auths.delete(id);
      const pool = this.pools.get(id);
      this.pools.delete(id);
      if (pool) closing.push(pool.close('its upstream changed in the config'));
    }
    await Promise.all(closing);
    for (const upstream of next.upstreams.values()) if (!this.upstreams.has(upstream.id)) this.addUpstream(upstream);

    if (
      next.settings.sessionIdleTimeoutMs !== previous.settings.sessionIdleTimeoutMs ||
      next.settings.chatSessionIdleTimeoutMs !== previous.settings.chatSessionIdleTimeoutMs
    ) {
      this.sessions.setIdleTimeout(next.settings.sessionIdleTimeoutMs, next.settings.chatSessionIdleTimeoutMs);
    }
    this.sessions.setRetainEnded(next.settings.retainEndedMs);
    for (const connection of this.sessions.allConnections) {
      if (connection.virtualServer !== undefined && !next.virtualServers.has(connection.virtualServer)) {
        void this.sessions.endConnection(connection.id, `virtual server '${connection.virtualServer}' was removed from the config`);
      }
    }
    this.rebuildScopes();
    this.options.logger.info(`config applied from ${source}`);
  }

  /** A config file that failed to load or validate; the running config stays. */
  recordConfigError(error: unknown): void {
    this.lastConfigError = { at: Date.now(), message: errorMessage(error) };
    this.options.logger.error(`${errorMessage(error)}\nkeeping the last good config`);
    this.stateEmitter.fire();
  }

  /**
   * Whether safe mode guards calls from a view to an upstream: off where the virtual server turns
   * it off; else the run-time switch for the upstream, else the one for all, else the config.
   */
  safeModeEnabled(virtualServer: string | undefined, upstream: string): boolean {
    if (virtualServer !== undefined && this.configValue.virtualServers.get(virtualServer)?.safeMode === false) return false;
    return this.safeModeOverrides.get(upstream) ?? this.safeModeOverrideAll ?? this.configValue.upstreams.get(upstream)?.safeMode.enabled ?? true;
  }

  /** Run-time switch from the admin API; without `upstream` it applies to every upstream. */
  setSafeMode(enabled: boolean, upstream?: string): boolean {
    if (upstream !== undefined) {
      if (!this.upstreams.has(upstream)) return false;
      this.safeModeOverrides.set(upstream, enabled);
    } else {
      this.safeModeOverrides.clear();
      this.safeModeOverrideAll = enabled;
    }
    this.options.logger.info(`safe mode ${enabled ? 'on' : 'off'} for ${upstream === undefined ? 'every upstream' : `upstream '${upstream}'`}`);
    this.stateEmitter.fire();
    return true;
  }

  /**
   * What safe mode needs to judge a call to an upstream's tool from a session: the rule for the
   * tool (the config's, else its profile's), how the upstream spells paths (the session's own
   * instance directory included), and how to ask whether a path exists.
   */
  safeModeCall(upstreamId: string, tool: Tool, args: Record<string, unknown> | undefined, virtualServer: string | undefined, session: LogicalSession): GateCall {
    const config = this.configValue.upstreams.get(upstreamId);
    if (!config) throw new RpcError(RpcErrorCode.InternalError, `upstream '${upstreamId}' is not configured`);
    const policy = config.safeMode;
    const profile = profileFor(policy.profile, this.upstreams.get(upstreamId)?.status.serverInfo?.name);
    const instanceDir = this.pools.get(upstreamId)?.instanceOf(session.id)?.instanceDir;
    const { spelling, unownable } = upstreamSpelling(config, instanceDir);
    const existenceProbe = policy.existenceProbe === false ? undefined : (policy.existenceProbe ?? profile?.existenceProbe);
    return {
      upstream: upstreamId,
      tool: { name: tool.name, annotations: tool.annotations, inputSchema: tool.inputSchema },
      args,
      rule: policy.tools[tool.name] ?? profile?.tools[tool.name],
      enabled: this.safeModeEnabled(virtualServer, upstreamId),
      spelling,
      unownable,
      ...(existenceProbe ? { existenceProbe } : {}),
      ...(profile?.pathsAreNames ? { pathsAreNames: true } : {}),
    };
  }

  /** A human frees what ended sessions owned; returns how many identifiers. */
  async releaseTombstones(which: TombstoneRelease): Promise<number> {
    let freed = this.sessions.releaseTombstones(which);
    // Several hubs: what this one does not hold may be held for the others.
    const { shared } = this.sessions.ownership;
    if (shared) {
      const elsewhere = 'all' in which ? await shared.releaseAllEnded() : 'session' in which ? await shared.releaseSession(which.session) : await shared.releaseOne(which.upstream, which);
      freed = Math.max(freed, elsewhere);
    }
    this.options.logger.info(`safe mode: released ${freed} identifier(s) of ended sessions (${'all' in which ? 'all' : 'session' in which ? `session ${which.session}` : `${which.kind} ${which.canonical} of upstream '${which.upstream}'`})`);
    return freed;
  }

  async restartUpstream(id: string): Promise<boolean> {
    const upstream = this.upstreams.get(id);
    if (!upstream) return false;
    await upstream.restart();
    return true;
  }

  state(): AdminState {
    return buildAdminState({
      startedAt: this.startedAt,
      version: hubVersion,
      configSource: this.options.configSource,
      configError: this.lastConfigError,
      config: this.configValue,
      upstreams: [...this.upstreams.values()],
      scope: (id) => this.scope(id),
      sessions: this.sessions.allSessions,
      tombstones: this.sessions.ownership.tombstones,
      ownership: { store: this.sessions.ownership.storeDescription, problem: this.sessions.ownership.problem, owned: this.sessions.ownership.size },
      safeMode: (upstream) => this.safeModeEnabled(undefined, upstream),
      pools: this.pools,
      recentCalls: (id) => this.recentCalls.of(id),
    });
  }

  /**
   * Starts signing in to a remote upstream: the authorization URL to open, or `signedIn` when the
   * stored sign-in still works (the upstream reconnects). Undefined for an unknown upstream.
   */
  async signIn(id: string): Promise<{ authorizationUrl: string } | { signedIn: true } | undefined> {
    const auth = this.auths.get(id);
    if (!auth) return this.upstreams.has(id) ? Promise.reject(new Error(`upstream '${id}' does not sign in with OAuth (a stdio upstream, or one with its own Authorization header)`)) : undefined;
    const authorizationUrl = await auth.beginSignIn();
    if (authorizationUrl) return { authorizationUrl };
    const connection = this.upstreams.get(id);
    if (connection && connection.status.state !== 'ready') await connection.restart();
    return { signedIn: true };
  }

  /** Forgets an upstream's tokens and registration; false for an upstream that does not sign in. */
  async signOut(id: string): Promise<boolean> {
    const auth = this.auths.get(id);
    if (!auth) return false;
    await auth.signOut();
    return true;
  }

  private authFor(config: UpstreamConfig): UpstreamAuth | undefined {
    if (config.type === 'stdio' || !usesOAuth(config)) return undefined;
    let auth = this.auths.get(config.id);
    if (!auth) {
      auth = new UpstreamAuth({
        upstream: config.id,
        url: config.url,
        settings: config.oauth,
        store: this.secretStore,
        callbacks: this.callbacks,
        logger: this.options.logger.child(`upstream:${config.id}:oauth`),
      });
      auth.onDidChange(() => this.stateEmitter.fire());
      this.auths.set(config.id, auth);
    }
    return auth;
  }

  private addUpstream(config: UpstreamConfig): void {
    const auth = this.authFor(config);
    const connection: UpstreamConnection = new UpstreamConnection(config, {
      auth,
      logger: this.options.logger.child(`upstream:${config.id}`),
      backoffBaseMs: this.options.upstreamBackoffMs,
      handlers: this.router.handlersFor(config.id, () => connection),
      maxMessageBytes: () => this.configValue.settings.maxUpstreamMessageBytes,
      // A per-session upstream's probe fills in the instance variables as an instance would.
      ...(config.perSession ? { instance: { sessionId: () => 'probe' } } : {}),
    });
    this.upstreams.set(config.id, connection);
    this.firstTryStarted.set(connection, Date.now());
    void connection.firstAttempt.then(() => this.firstTryStarted.delete(connection));
    connection.onDidChangeCatalog(() => {
      if (this.upstreams.get(config.id) === connection) this.rebuildScopes();
    });
    connection.onDidChangeStatus(() => this.stateEmitter.fire());
    followUpstream(this.activity, config.id, connection.onDidChangeStatus, () => connection.status);
    connection.start();
    if (config.perSession) {
      const logger = this.options.logger.child(`upstream:${config.id}:instances`);
      const pool = new InstancePool(
        { ...config, perSession: config.perSession },
        {
          logger,
          handlers: (instance, owner) => this.router.handlersFor(config.id, instance, owner),
          onDidChange: () => this.stateEmitter.fire(),
          onDidStop: (instance) => this.router.upstreamClosed(instance),
          maxMessageBytes: () => this.configValue.settings.maxUpstreamMessageBytes,
          auth,
        },
      );
      this.pools.set(config.id, pool);
    }
  }

  private currentCatalogs(): Map<string, UpstreamCatalog> {
    return new Map([...this.upstreams].map(([id, connection]) => [id, connection.catalog]));
  }

  /** Recomputes every view's scope and tells exactly the affected connections what changed. */
  private rebuildScopes(): void {
    if (this.closed) return;
    const catalogs = this.currentCatalogs();
    const next = new Map<string, ScopedCatalog>();
    next.set(globalKey, new ScopedCatalog(globalView([...this.configValue.upstreams.keys()]), catalogs));
    for (const vs of this.configValue.virtualServers.values()) next.set(vs.id, new ScopedCatalog(virtualServerView(vs), catalogs));

    const changed = new Map<string, Set<string>>();
    for (const [key, scope] of next) {
      const before = this.scopes.get(key);
      for (const problem of scope.problems) if (!before?.problems.includes(problem)) this.options.logger.warn(`config error: ${problem}`);
      if (!before) continue;
      const methods = new Set<string>();
      for (const category of catalogCategories) {
        if (before.fingerprints[category] !== scope.fingerprints[category]) methods.add(listChangedMethod[category]);
      }
      if (methods.size > 0) changed.set(key, methods);
    }
    this.scopes = next;

    for (const connection of this.sessions.allConnections) {
      const methods = changed.get(connection.virtualServer ?? globalKey);
      if (!methods) continue;
      for (const method of methods) {
        connection.server.notification({ method }).catch((error: unknown) => {
          this.options.logger.debug(`could not notify ${connection.id} of ${method}: ${errorMessage(error)}`);
        });
      }
    }
    this.stateEmitter.fire();
  }

  /** Ends every session, then every upstream (children: stdin close, SIGTERM, SIGKILL). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sessions.endAll('hub shutting down');
    this.sessions.dispose();
    await Promise.all([...[...this.upstreams.values()].map((upstream) => upstream.close()), ...[...this.pools.values()].map((pool) => pool.close())]);
    this.upstreams.clear();
    this.pools.clear();
    for (const auth of this.auths.values()) auth.dispose();
    this.auths.clear();
    await this.callbacks.close();
    this.stateEmitter.dispose();
    this.metrics.dispose();
    this.recentCalls.dispose();
    this.activity.dispose();
    this.memory.dispose();
  }

  dispose(): void {
    void this.close();
  }
}
