import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Event } from '../core/infra/events';
import type { Disposable } from '../core/infra/lifecycle';

export type StateBroadcasterOptions = {
  /** Builds the state to send; called at most once per snapshot, whatever the number of subscribers. */
  build: () => unknown;
  /** Fires whenever the state may have changed. */
  onDidChange: Event<void>;
  /** Smallest gap between two snapshots. */
  minIntervalMs?: number;
  /** The gap is at least this many times what the last snapshot cost (build, serialise, write). */
  costFactor?: number;
  keepAliveMs?: number;
  /** A build that threw: the subscribers keep the snapshot before it. */
  onError?: (error: unknown) => void;
};

type Snapshot = { seq: number; frame: Buffer };
type Subscriber = { res: ServerResponse; sentSeq: number; waitingForDrain: boolean; closed: boolean };

/**
 * Streams a state as Server-Sent Events (`event: state`, the whole state as `data`) to any
 * number of subscribers, at a cost that does not grow with their number.
 *
 * Why coalesced snapshots and not deltas: the readers (AdminClient, the VS Code views) want the
 * whole state and keep nothing between events, so whole snapshots leave them and the wire format
 * unchanged. Deltas would need a version per subscriber, a resync whenever one is skipped (a slow
 * reader) or reconnects, and a diff of the state on every change; and the cost deltas would save
 * is bounded anyway: ONE build and ONE serialisation per snapshot, shared by every subscriber, at
 * most one snapshot per `minIntervalMs`, and the gap grows to `costFactor` times what the last
 * snapshot cost, so a huge state cannot take more than about 1/(costFactor + 1) of the event loop
 * however often it changes.
 *
 * A subscriber whose socket is not keeping up (its last write did not drain) is skipped; when it
 * drains it gets the newest snapshot, never a backlog, so each holds at most one snapshot in its
 * write buffer.
 */
export class StateBroadcaster implements Disposable {
  private readonly subscribers = new Set<Subscriber>();
  private readonly minIntervalMs: number;
  private readonly costFactor: number;
  private readonly keepAliveMs: number;
  /** The newest snapshot; kept only while there are subscribers (nothing keeps it fresh otherwise). */
  private latest?: Snapshot;
  private seq = 0;
  private intervalMs: number;
  /** When the last snapshot was done (performance.now()). */
  private lastSnapshotAt = -Infinity;
  private snapshotStartedAt = 0;
  private changes?: Disposable;
  private timer?: NodeJS.Timeout;
  private keepAlive?: NodeJS.Timeout;

  constructor(private readonly options: StateBroadcasterOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 200;
    this.costFactor = options.costFactor ?? 10;
    this.keepAliveMs = options.keepAliveMs ?? 15_000;
    this.intervalMs = this.minIntervalMs;
  }

  /** The gap now enforced between two snapshots, in ms. */
  get currentIntervalMs(): number {
    return this.intervalMs;
  }

  /**
   * Streams to `res` (its headers already written) from now on: the newest snapshot at once,
   * then every later one it can take. Dispose when the connection closes.
   */
  subscribe(res: ServerResponse): Disposable {
    const subscriber: Subscriber = { res, sentSeq: 0, waitingForDrain: false, closed: false };
    this.subscribers.add(subscriber);
    if (this.subscribers.size === 1) {
      this.changes = this.options.onDidChange(() => this.schedule());
      this.keepAlive = setInterval(() => {
        for (const each of this.subscribers) if (!each.waitingForDrain) this.write(each, ': keep-alive\n\n');
      }, this.keepAliveMs);
    }
    if (!this.latest) this.snapshot();
    this.deliver(subscriber);
    return {
      dispose: () => {
        if (subscriber.closed) return;
        subscriber.closed = true;
        this.subscribers.delete(subscriber);
        if (this.subscribers.size === 0) this.stop();
      },
    };
  }

  dispose(): void {
    for (const subscriber of this.subscribers) subscriber.closed = true;
    this.subscribers.clear();
    this.stop();
  }

  private stop(): void {
    this.changes?.dispose();
    this.changes = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    this.latest = undefined;
  }

  /** A change: one snapshot for all of them, once the gap since the last one has passed. */
  private schedule(): void {
    if (this.timer || this.subscribers.size === 0) return;
    const wait = Math.max(0, this.lastSnapshotAt + this.intervalMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.snapshot();
      for (const subscriber of this.subscribers) this.deliver(subscriber);
      // What the writes cost counts too: they copy the frame into every socket.
      this.measure();
    }, wait);
  }

  private snapshot(): void {
    this.snapshotStartedAt = performance.now();
    let state: unknown;
    try {
      state = this.options.build();
    } catch (error) {
      this.options.onError?.(error);
      this.measure();
      return;
    }
    // Serialised once, encoded once: every subscriber is written the same bytes.
    this.latest = { seq: ++this.seq, frame: Buffer.from(`event: state\ndata: ${JSON.stringify(state)}\n\n`, 'utf8') };
    this.measure();
  }

  private measure(): void {
    const now = performance.now();
    this.intervalMs = Math.max(this.minIntervalMs, this.costFactor * (now - this.snapshotStartedAt));
    this.lastSnapshotAt = now;
  }

  /** The newest snapshot, unless this subscriber has it or is still draining an earlier write. */
  private deliver(subscriber: Subscriber): void {
    const latest = this.latest;
    if (!latest || subscriber.closed || subscriber.waitingForDrain || subscriber.sentSeq >= latest.seq) return;
    subscriber.sentSeq = latest.seq;
    this.write(subscriber, latest.frame);
  }

  private write(subscriber: Subscriber, chunk: Buffer | string): void {
    const { res } = subscriber;
    if (res.destroyed || res.writableEnded) return;
    if (res.write(chunk)) return;
    subscriber.waitingForDrain = true;
    res.once('drain', () => {
      subscriber.waitingForDrain = false;
      this.deliver(subscriber);
    });
  }
}
