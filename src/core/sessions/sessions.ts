import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { Emitter } from '../infra/events';
import { DisposableStore, type Disposable } from '../infra/lifecycle';
import type { McpLogLevel } from '../infra/logLevels';
import { errorMessage, type Logger } from '../infra/logger';
import { OwnershipIndex, type OwnershipLedger, type OwnershipRecord, type OwnershipStore, type SharedOwnership, type TombstoneRelease } from './ownershipLedger';
import { SafeModeJournal } from './safeMode';

export type TransportKind = 'streamable-http' | 'sse';

/**
 * The object at the edge that carries a connection's bytes (its transport and MCP server). The
 * registry holds it, so the edge finds a connection's object by id here, in the one map of
 * connections, and ends it through `close` when the registry decides a connection ends.
 */
export type ConnectionEdge = {
  readonly server: ConnectionServer;
  close(): Promise<void>;
  /** Bytes written to this client and not yet taken by it (0 for an edge that does not know). */
  readonly queuedBytes?: number;
  /** Messages not sent because this client did not read: logs dropped, progress coalesced. */
  readonly droppedMessages?: number;
};

/** The connection's own MCP server: what the hub sends to this client goes through it. */
export type ConnectionServer = Server;

/** One client connection: a Streamable HTTP session (`Mcp-Session-Id`) or one legacy SSE stream. */
export class Connection {
  readonly createdAt: number;
  lastSeenAt: number;
  calls = 0;
  errors = 0;
  totalLatencyMs = 0;
  client?: { name: string; version: string };
  /** Open long-lived streams (GET SSE): a connection that holds one is not idle. */
  openStreams = 0;
  /** The level the client asked for with `logging/setLevel`; none means everything its upstreams send. */
  logLevel?: McpLogLevel;
  /** Set once a malformed chat key was logged for this connection: it is logged once, not per call. */
  warnedAboutChatKey = false;

  constructor(
    readonly id: string,
    readonly transport: TransportKind,
    /** `undefined` for the global endpoint. */
    readonly virtualServer: string | undefined,
    readonly session: LogicalSession,
    readonly edge: ConnectionEdge,
    now: number,
  ) {
    this.createdAt = now;
    this.lastSeenAt = now;
  }

  /** The connection's MCP server, which its edge owns: what the hub sends this client goes through it. */
  get server(): ConnectionServer {
    return this.edge.server;
  }
}

/**
 * What per-session state belongs to: per-session upstream instances, the safe-mode ledger.
 * Without `X-MCP-Hub-Session` a logical session is exactly one connection. With it, every
 * connection that sends the same value shares one logical session, which outlives any one of
 * them until it has been idle for the TTL (so a client that reconnects keeps its state).
 */
export class LogicalSession {
  readonly connections = new Map<string, Connection>();
  readonly createdAt: number;
  lastSeenAt: number;
  /** Everything the session holds; disposed when it ends. */
  readonly resources = new DisposableStore();
  /**
   * What this session created (ids, names, paths, URIs), for safe mode. It outlives the session as
   * a tombstone, and a session that comes back with the same id takes it up again.
   */
  readonly ledger: OwnershipLedger;
  /** How safe mode answered this session's calls, newest first. */
  readonly safeModeDecisions = new SafeModeJournal();
  /**
   * The session's identity everywhere (instances, routing, ledger, admin API). Keyed and implicit
   * sessions live in separate namespaces, so no choice of key can name another session:
   * `key:<X-MCP-Hub-Session>` for a keyed session, the hub-made connection id for an implicit one.
   */
  readonly id: string;
  ended = false;

  /** For a chat session: the session of the connection its calls come on (the workspace). */
  readonly parent?: LogicalSession;
  /** For a chat session: the conversation id its calls carry. */
  readonly conversationId?: string;
  /** This session's chat sessions, by conversation id. */
  readonly chats = new Map<string, LogicalSession>();
  /** Conversation ids of chat sessions that ended while this session lived: a new call is told. */
  readonly endedChats = new Map<string, string>();
  /** Calls made in this session that no connection of its own counts (a chat session's), their errors and time. */
  ownCalls = 0;
  ownErrors = 0;
  ownLatencyMs = 0;

  constructor(
    origin: { key: string } | { connectionId: string } | { parent: LogicalSession; conversationId: string },
    index: OwnershipIndex,
    now: number,
  ) {
    if ('parent' in origin) {
      // A parent id never holds a '/': the chat's id names its parent, and no other session's.
      this.id = `${origin.parent.id}/chat:${origin.conversationId}`;
      this.parent = origin.parent;
      this.conversationId = origin.conversationId;
    } else {
      this.id = 'key' in origin ? keyedSessionId(origin.key) : origin.connectionId;
    }
    this.key = 'key' in origin ? origin.key : undefined;
    this.ledger = index.ledgerFor(this.id);
    this.createdAt = now;
    this.lastSeenAt = now;
  }

  /** The connections that speak for this session: its own, or a chat session's workspace's. */
  get reachableConnections(): ReadonlyMap<string, Connection> {
    return this.parent ? this.parent.connections : this.connections;
  }

  /** The `X-MCP-Hub-Session` value clients joined it with; undefined for an implicit session. */
  readonly key: string | undefined;

  /** true when clients joined it explicitly with `X-MCP-Hub-Session`. */
  get joined(): boolean {
    return this.key !== undefined;
  }

  get calls(): number {
    let total = this.ownCalls;
    for (const connection of this.connections.values()) total += connection.calls;
    return total;
  }
}

export type SessionEvent =
  | { type: 'connection-opened'; connection: Connection }
  | { type: 'session-started'; session: LogicalSession }
  | { type: 'connection-closed'; connection: Connection; reason: string }
  | { type: 'session-ended'; session: LogicalSession; reason: string }
  | { type: 'connection-updated'; connection: Connection }
  | { type: 'ownership-released' };

/** Joinable session keys: header values, kept apart from connection ids so nobody joins an implicit session. */
export const sessionKeyPattern = /^[A-Za-z0-9._:@-]{1,128}$/;

const maxRememberedEndedChats = 100;
const maxChatsPerSession = 100;

/** A keyed session's id: prefixed, so it can never equal an implicit session's (a connection id). */
export function keyedSessionId(key: string): string {
  return `key:${key}`;
}

export type SessionRegistryOptions = {
  idleTimeoutMs: number;
  /** A chat session with no call for this long ends. */
  chatIdleTimeoutMs?: number;
  /** How long an ended session's ownership is kept; unset: until a human releases it. */
  retainEndedMs?: number;
  /** Where ownership is kept beyond this process, and what it held when the hub last stopped. */
  ownership?: { store?: OwnershipStore; records?: readonly OwnershipRecord[]; shared?: SharedOwnership };
  logger: Logger;
  now?: () => number;
};

/** The hub's sessions. It owns idle expiry; transports report opens, closes and activity. */
export class SessionRegistry implements Disposable {
  private readonly connections = new Map<string, Connection>();
  /** Every logical session by its namespaced id (see `LogicalSession.id`). */
  private readonly sessionsById = new Map<string, LogicalSession>();
  /** Who owns which id, across all sessions' ledgers and the tombstones of ended ones. */
  readonly ownership: OwnershipIndex;
  private readonly emitter: Emitter<SessionEvent>;
  readonly onDidChange;
  private sweepTimer?: NodeJS.Timeout;
  private idleTimeoutMs: number;
  private chatIdleTimeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly options: SessionRegistryOptions) {
    this.emitter = new Emitter<SessionEvent>((error) => options.logger.error(`session listener failed: ${errorMessage(error)}`));
    this.onDidChange = this.emitter.event;
    this.now = options.now ?? Date.now;
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.chatIdleTimeoutMs = options.chatIdleTimeoutMs ?? options.idleTimeoutMs;
    this.retainEndedMs = options.retainEndedMs;
    this.ownership = new OwnershipIndex(options.ownership?.store, options.ownership?.shared);
    if (options.ownership?.records) this.ownership.restore(options.ownership.records, this.now());
    this.scheduleSweep();
  }

  /** How long an ended session's ownership is kept; undefined: until a human releases it. */
  private retainEndedMs: number | undefined;

  setRetainEnded(ms: number | undefined): void {
    if (ms === this.retainEndedMs) return;
    this.retainEndedMs = ms;
    this.scheduleSweep();
  }

  setIdleTimeout(ms: number, chatMs = this.chatIdleTimeoutMs): void {
    this.idleTimeoutMs = ms;
    this.chatIdleTimeoutMs = chatMs;
    this.scheduleSweep();
  }

  private scheduleSweep(): void {
    clearInterval(this.sweepTimer);
    const every = Math.min(30_000, Math.max(50, Math.floor(Math.min(this.idleTimeoutMs, this.chatIdleTimeoutMs, this.retainEndedMs ?? Infinity) / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  open(init: {
    id: string;
    transport: TransportKind;
    virtualServer: string | undefined;
    sessionKey?: string;
    edge: ConnectionEdge;
  }): Connection {
    const now = this.now();
    const existing = init.sessionKey === undefined ? undefined : this.sessionsById.get(keyedSessionId(init.sessionKey));
    const session =
      existing ?? new LogicalSession(init.sessionKey === undefined ? { connectionId: init.id } : { key: init.sessionKey }, this.ownership, now);
    this.sessionsById.set(session.id, session);
    const connection = new Connection(init.id, init.transport, init.virtualServer, session, init.edge, now);
    session.connections.set(connection.id, connection);
    session.lastSeenAt = now;
    this.connections.set(connection.id, connection);
    this.emitter.fire({ type: 'connection-opened', connection });
    return connection;
  }

  /**
   * The chat session of `parent` for a conversation, made on its first call. `ended` says why an
   * earlier chat session of that conversation ended, when one did: this one starts fresh.
   */
  chatSession(parent: LogicalSession, conversationId: string): { session: LogicalSession; ended?: string } {
    const now = this.now();
    const existing = parent.chats.get(conversationId);
    if (existing) {
      existing.lastSeenAt = now;
      return { session: existing };
    }
    // A client may send any number of conversation ids: past the bound, the chat unused longest goes.
    if (parent.chats.size >= maxChatsPerSession) {
      let idlest: LogicalSession | undefined;
      for (const chat of parent.chats.values()) if (!idlest || chat.lastSeenAt < idlest.lastSeenAt) idlest = chat;
      if (idlest) this.endLogical(idlest, `making room: a session keeps at most ${maxChatsPerSession} chats`);
    }
    const session = new LogicalSession({ parent, conversationId }, this.ownership, now);
    parent.chats.set(conversationId, session);
    this.sessionsById.set(session.id, session);
    const ended = parent.endedChats.get(conversationId);
    parent.endedChats.delete(conversationId);
    this.emitter.fire({ type: 'session-started', session });
    return { session, ...(ended ? { ended } : {}) };
  }

  connection(id: string): Connection | undefined {
    return this.connections.get(id);
  }

  /** A logical session by its id (`key:<key>` for a keyed one, the connection id for an implicit one). */
  session(id: string): LogicalSession | undefined {
    return this.sessionsById.get(id);
  }

  get allConnections(): Connection[] {
    return [...this.connections.values()];
  }

  get allSessions(): LogicalSession[] {
    return [...this.sessionsById.values()];
  }

  /** Logical sessions of connections; chat sessions, bounded per session, are not counted. */
  get sessionCount(): number {
    let count = 0;
    for (const session of this.sessionsById.values()) if (!session.parent) count++;
    return count;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  touch(connection: Connection): void {
    const now = this.now();
    connection.lastSeenAt = now;
    connection.session.lastSeenAt = now;
  }

  /** A call `connection` carried, made in `session` (a chat session's, when not the connection's own). */
  recordCall(connection: Connection, latencyMs: number, failed: boolean, session: LogicalSession = connection.session): void {
    connection.calls++;
    connection.totalLatencyMs += latencyMs;
    if (failed) connection.errors++;
    if (session !== connection.session) {
      session.ownLatencyMs += latencyMs;
      if (failed) session.ownErrors++;
    }
    this.touch(connection);
    this.emitter.fire({ type: 'connection-updated', connection });
  }

  identify(connection: Connection, client: { name: string; version: string } | undefined): void {
    connection.client = client;
    this.emitter.fire({ type: 'connection-updated', connection });
  }

  /** Called by the transport when a connection has closed, for whatever reason. Idempotent. */
  connectionClosed(id: string, reason: string): void {
    const connection = this.connections.get(id);
    if (!connection) return;
    this.connections.delete(id);
    const { session } = connection;
    session.connections.delete(id);
    this.emitter.fire({ type: 'connection-closed', connection, reason });
    // A joined session waits for its clients to come back until it is idle for the TTL.
    if (!session.joined && session.connections.size === 0) this.endLogical(session, reason);
  }

  /**
   * Ends a session and all its connections: `id` may name a logical session or one connection
   * (whose whole logical session then ends). Returns false for an unknown id. The namespaces do
   * not overlap: a keyed session's id starts with `key:`, a connection id never does.
   */
  async end(id: string, reason: string): Promise<boolean> {
    const session = this.session(id) ?? this.connections.get(id)?.session;
    if (!session) return false;
    await this.closeSession(session, reason);
    return true;
  }

  async endAll(reason: string): Promise<number> {
    const sessions = this.allSessions;
    await Promise.all(sessions.map((session) => this.closeSession(session, reason)));
    return sessions.length;
  }

  /** Ends one connection only; its logical session follows the usual rules. */
  async endConnection(id: string, reason: string): Promise<boolean> {
    const connection = this.connections.get(id);
    if (!connection) return false;
    await this.closeConnection(connection, reason);
    return true;
  }

  private async closeConnection(connection: Connection, reason: string): Promise<void> {
    // Record first, so the transport's own close callback (a no-op then) does not replace the reason.
    this.connectionClosed(connection.id, reason);
    try {
      await connection.edge.close();
    } catch (error) {
      this.options.logger.warn(`closing connection ${connection.id} failed: ${errorMessage(error)}`);
    }
  }

  private async closeSession(session: LogicalSession, reason: string): Promise<void> {
    await Promise.all([...session.connections.values()].map((c) => this.closeConnection(c, reason)));
    this.endLogical(session, reason);
  }

  private endLogical(session: LogicalSession, reason: string): void {
    if (session.ended) return;
    session.ended = true;
    for (const chat of [...session.chats.values()]) this.endLogical(chat, `its workspace session ended (${reason})`);
    if (session.parent && session.conversationId !== undefined) {
      session.parent.chats.delete(session.conversationId);
      const { endedChats } = session.parent;
      if (!session.parent.ended) endedChats.set(session.conversationId, reason);
      // Remembered only to say so on the next call: the oldest go first.
      if (endedChats.size > maxRememberedEndedChats) endedChats.delete(endedChats.keys().next().value as string);
    }
    this.sessionsById.delete(session.id);
    // What it owned stays owned: refused to every other session until released or it comes back.
    session.ledger.end({ at: this.now(), reason });
    try {
      session.resources.dispose();
    } catch (error) {
      this.options.logger.error(`releasing session ${session.id} failed: ${errorMessage(error)}`);
    }
    this.emitter.fire({ type: 'session-ended', session, reason });
  }

  /** A human frees what ended sessions owned: one session's, one identifier, or all; returns how many identifiers. */
  releaseTombstones(which: TombstoneRelease): number {
    const freed = this.ownership.releaseTombstones(which);
    if (freed > 0) this.emitter.fire({ type: 'ownership-released' });
    return freed;
  }

  /** Ends connections idle for the TTL (an open stream counts as activity), then empty joined sessions. */
  sweep(): void {
    const cutoff = this.now() - this.idleTimeoutMs;
    for (const connection of [...this.connections.values()]) {
      if (connection.openStreams === 0 && connection.lastSeenAt <= cutoff) {
        void this.closeConnection(connection, 'idle timeout');
      }
    }
    const chatCutoff = this.now() - this.chatIdleTimeoutMs;
    for (const session of [...this.sessionsById.values()]) {
      if (session.parent) {
        if (session.lastSeenAt <= chatCutoff) this.endLogical(session, 'chat idle timeout');
      } else if (session.joined && session.connections.size === 0 && session.lastSeenAt <= cutoff) {
        this.endLogical(session, 'idle timeout');
      }
    }
    if (this.retainEndedMs !== undefined && this.ownership.releaseEndedBefore(this.now() - this.retainEndedMs) > 0) {
      this.emitter.fire({ type: 'ownership-released' });
    }
  }

  dispose(): void {
    clearInterval(this.sweepTimer);
    this.emitter.dispose();
  }
}
