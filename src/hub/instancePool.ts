import type { UpstreamAuth } from '../upstream/oauth/upstreamAuth';
import type { PerSessionPolicy, UpstreamConfig } from '../core/config/config';
import { InstanceLimitError } from '../core/infra/errors';
import { usesInstanceVariable } from '../core/config/instanceVariables';
import type { Disposable } from '../core/infra/lifecycle';
import { errorMessage, type Logger } from '../core/infra/logger';
import type { LogicalSession } from '../core/sessions/sessions';
import type { UpstreamMessageHandlers } from '../upstream/attribution';
import { UpstreamConnection, type UpstreamState } from '../upstream/upstreamConnection';

/** One session's instance of a per-session upstream, as the admin API shows it. */
export type InstanceInfo = {
  upstream: string;
  pid?: number;
  state: UpstreamState;
  startedAt: number;
  lastUsedAt: number;
  lastError?: string;
  /** The instance's private directory, when its config uses `${instanceDir}`. */
  instanceDir?: string;
};

type Instance = { connection: UpstreamConnection; owner?: string; startedAt: number; lastUsedAt: number };

export type InstancePoolOptions = {
  logger: Logger;
  /** Handlers for one instance; `owner` names the session it serves once it has one. */
  handlers: (connection: () => UpstreamConnection, owner: () => string | undefined) => UpstreamMessageHandlers;
  /** Called whenever instances start, stop or change state. */
  onDidChange: () => void;
  /** Called when an instance stops, so what referred to it can be dropped. */
  onDidStop?: (connection: UpstreamConnection) => void;
  now?: () => number;
  /** See `UpstreamConnectionOptions.maxMessageBytes`. */
  maxMessageBytes?: () => number;
  /** The upstream's OAuth client: every instance signs in with the same tokens. */
  auth?: UpstreamAuth;
};

/**
 * The instances of one per-session upstream: one per logical session, never shared. Warm spares
 * are started ahead so a new session's first call does not wait for a process to start; the cap
 * bounds how many sessions hold an instance at once; an instance unused for the idle timeout is
 * stopped. Stopping an instance ends its whole process group.
 */
export class InstancePool implements Disposable {
  private readonly bySession = new Map<string, Instance>();
  private readonly spares: Instance[] = [];
  private readonly stopping = new Set<Promise<void>>();
  private readonly idleTimer: NodeJS.Timeout;
  private readonly now: () => number;
  private closed = false;

  constructor(
    readonly config: UpstreamConfig & { perSession: PerSessionPolicy },
    private readonly options: InstancePoolOptions,
  ) {
    this.now = options.now ?? Date.now;
    const every = Math.min(30_000, Math.max(100, Math.floor(config.perSession.idleTimeoutMs / 4)));
    this.idleTimer = setInterval(() => this.stopIdle(), every);
    this.idleTimer.unref();
    this.replenish();
  }

  private get needsSessionAtStart(): boolean {
    return this.config.type === 'stdio' && usesInstanceVariable(this.config, 'sessionId');
  }

  get policy(): PerSessionPolicy {
    return this.config.perSession;
  }

  get counts(): { instances: number; spares: number; readySpares: number } {
    const readySpares = this.spares.filter((spare) => spare.connection.status.state === 'ready').length;
    return { instances: this.bySession.size, spares: this.spares.length, readySpares };
  }

  /**
   * The session's instance: its own, else a warm spare, else one started now (the first call
   * waits for it). Past `maxInstances` a new session is refused; one that has an instance keeps it.
   */
  acquire(session: LogicalSession): UpstreamConnection {
    const existing = this.bySession.get(session.id);
    if (existing) {
      existing.lastUsedAt = this.now();
      return existing.connection;
    }
    if (this.closed) throw new InstanceLimitError(this.config.id, 0, 'the hub is shutting down');
    if (this.bySession.size >= this.policy.maxInstances) this.makeRoom();
    const instance = this.takeSpare() ?? this.start(session.id);
    instance.owner = session.id;
    instance.lastUsedAt = this.now();
    this.bySession.set(session.id, instance);
    this.options.logger.info(`instance ${instance.connection.status.pid ?? '(starting)'} now serves session ${session.id}`);
    // The session's end ends the instance; a session that already ended releases it at once.
    session.resources.add({ dispose: () => this.release(session.id, 'its session ended') });
    this.replenish();
    this.options.onDidChange();
    return instance.connection;
  }

  /** The session's instance, if it has one (without starting any). */
  instanceOf(sessionId: string): UpstreamConnection | undefined {
    return this.bySession.get(sessionId)?.connection;
  }

  describe(sessionId: string): InstanceInfo | undefined {
    const instance = this.bySession.get(sessionId);
    if (!instance) return undefined;
    const { status } = instance.connection;
    return {
      upstream: this.config.id,
      ...(status.pid ? { pid: status.pid } : {}),
      state: status.state,
      startedAt: instance.startedAt,
      lastUsedAt: instance.lastUsedAt,
      ...(status.lastError ? { lastError: status.lastError } : {}),
      ...(instance.connection.instanceDir ? { instanceDir: instance.connection.instanceDir } : {}),
    };
  }

  /** Stops the session's instance, if any. */
  release(sessionId: string, reason: string): void {
    const instance = this.bySession.get(sessionId);
    if (!instance) return;
    this.bySession.delete(sessionId);
    this.stop(instance, reason);
    this.replenish();
    this.options.onDidChange();
  }

  /**
   * At the cap, the least recently used instance that is not in a call makes room (its session
   * stays, and gets a fresh instance on its next call): clients that never say goodbye are
   * normal. Only when every instance is busy is the newcomer refused, with the busy sessions named.
   */
  private makeRoom(): void {
    let idlest: [string, Instance] | undefined;
    for (const entry of this.bySession) {
      if (!entry[1].connection.busy && (!idlest || entry[1].lastUsedAt < idlest[1].lastUsedAt)) idlest = entry;
    }
    if (idlest) {
      this.release(idlest[0], `making room for a new session at maxInstances = ${this.policy.maxInstances} (it was the least recently used)`);
      return;
    }
    const busy = [...this.bySession.keys()].join(', ');
    throw new InstanceLimitError(
      this.config.id,
      this.policy.maxInstances,
      `all maxInstances = ${this.policy.maxInstances} session instances are in a call (sessions ${busy}); retry when one is done, or raise maxInstances`,
    );
  }

  private takeSpare(): Instance | undefined {
    // A ready spare first; a failed one is no better than a new start.
    const index = this.spares.findIndex((spare) => spare.connection.status.state === 'ready');
    const chosen = index >= 0 ? index : this.spares.findIndex((spare) => spare.connection.status.state === 'starting');
    if (chosen < 0) return undefined;
    const [spare] = this.spares.splice(chosen, 1);
    spare.startedAt = this.now();
    return spare;
  }

  /** Keeps `warm` spares ready, as long as they could still be handed out under the cap. */
  private replenish(): void {
    // A spare cannot know the session it will serve: a config that names `${sessionId}` gets none.
    if (this.closed || this.needsSessionAtStart) return;
    while (this.spares.length < this.policy.warm && this.bySession.size + this.spares.length < this.policy.maxInstances) {
      this.spares.push(this.start());
    }
  }

  private start(owner?: string): Instance {
    // The handlers read `instance` only once messages arrive, after it exists.
    const connection: UpstreamConnection = new UpstreamConnection(this.config, {
      instance: { sessionId: () => instance.owner ?? 'spare' },
      logger: this.options.logger,
      handlers: this.options.handlers(
        () => connection,
        () => instance.owner,
      ),
      restartOnDemand: true,
      maxMessageBytes: this.options.maxMessageBytes,
      auth: this.options.auth,
    });
    const instance: Instance = { connection, owner, startedAt: this.now(), lastUsedAt: this.now() };
    connection.onDidChangeStatus(() => this.options.onDidChange());
    connection.start();
    return instance;
  }

  private stop(instance: Instance, reason: string): void {
    const pid = instance.connection.status.pid;
    this.options.logger.info(`stopping instance ${pid ?? ''} of session ${instance.owner ?? '(spare)'}: ${reason}`);
    const stopping = instance.connection.close().catch((error: unknown) => {
      this.options.logger.warn(`stopping instance ${pid ?? ''} failed: ${errorMessage(error)}`);
    });
    this.options.onDidStop?.(instance.connection);
    this.stopping.add(stopping);
    void stopping.finally(() => this.stopping.delete(stopping));
  }

  private stopIdle(): void {
    const cutoff = this.now() - this.policy.idleTimeoutMs;
    for (const [sessionId, instance] of [...this.bySession]) {
      // One still starting has a caller waiting for it: not idle.
      const { busy, status } = instance.connection;
      if (instance.lastUsedAt <= cutoff && !busy && status.state !== 'starting') this.release(sessionId, `unused for ${this.policy.idleTimeoutMs / 1000} s`);
    }
  }

  /** Every instance and spare called `visit`, for hub-wide settings such as log levels. */
  forEachInstance(visit: (connection: UpstreamConnection, owner: string) => void): void {
    for (const [owner, instance] of this.bySession) visit(instance.connection, owner);
  }

  /** Stops every instance and spare, and waits until their processes are gone. */
  async close(reason = 'the hub is closing'): Promise<void> {
    this.closed = true;
    clearInterval(this.idleTimer);
    for (const [sessionId, instance] of [...this.bySession]) {
      this.bySession.delete(sessionId);
      this.stop(instance, reason);
    }
    for (const spare of this.spares.splice(0)) this.stop(spare, reason);
    await Promise.all([...this.stopping]);
  }

  dispose(): void {
    void this.close();
  }
}
