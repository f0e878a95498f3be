import type { Logger } from '../core/infra/logger';

const defaultBackoffBaseMs = 500;
const backoffMaxMs = 30_000;
/** The least time an upstream gets to start, whatever its per-request timeout. */
const minStartTimeoutMs = 30_000;
/** How long an upstream must stay up before its failures are forgiven. */
const stablePeriodMs = 30_000;

/**
 * How long starting may take (spawn, initialize, first listing): a short per-request `timeout`
 * must not fail a server that is slow to start on a busy machine or on a cold npx cache.
 */
export function startTimeoutMs(requestTimeoutMs: number): number {
  return Math.max(requestTimeoutMs, minStartTimeoutMs);
}

export type ReconnectPolicyOptions = {
  logger: Logger;
  /** Test hook: the first reconnect delay. */
  backoffBaseMs?: number;
  /**
   * Per-session instances: after a crash, restart when the session next calls instead of
   * reconnecting in the background for nobody.
   */
  restartOnDemand?: boolean;
};

/**
 * When an upstream connection is tried again: after a delay that doubles with each failure in
 * a row, in the background for a shared upstream, on the next call for a per-session instance.
 * Owns the reconnect timer and the timer that forgives failures once a connection stays up.
 */
export class ReconnectPolicy {
  private reconnectTimer?: NodeJS.Timeout;
  private stableTimer?: NodeJS.Timeout;

  constructor(private readonly options: ReconnectPolicyOptions) {}

  get restartOnDemand(): boolean {
    return this.options.restartOnDemand === true;
  }

  /** The wait before the next attempt, after `failures` failures in a row. */
  delayAfter(failures: number): number {
    const base = this.options.backoffBaseMs ?? defaultBackoffBaseMs;
    // On demand, the first failure is retried by the next call at once: a crash is not yet a loop.
    const exponent = this.restartOnDemand ? failures - 2 : failures - 1;
    return exponent < 0 ? 0 : Math.min(backoffMaxMs, base * 2 ** exponent);
  }

  /** Runs `attempt` after `delay`, unless one is already due or the upstream restarts on demand. */
  schedule(delay: number, attempt: () => void): void {
    if (this.reconnectTimer || this.restartOnDemand) return;
    this.options.logger.debug(`reconnecting in ${delay} ms`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      attempt();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** A connection is up: `forgive` runs once it has stayed up for the stable period. */
  connected(forgive: () => void): void {
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(forgive, stablePeriodMs);
    this.stableTimer.unref();
  }

  /** A connection failed or was lost: its failures stand. */
  lost(): void {
    clearTimeout(this.stableTimer);
  }

  /** No attempt is due any more, and nothing is forgiven (a restart, or close). */
  cancel(): void {
    clearTimeout(this.stableTimer);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }
}
