import type { Disposable } from '../core/infra/lifecycle';
import { errorMessage, type Logger } from '../core/infra/logger';

/** Dropped output below this is not worth a collection: V8 finds it in its own time. */
const worthCollectingBytes = 1024 * 1024;
/** When a collection runs: once the drops have stopped for `quietMs` (a burst of closes is one), at most `maxWaitMs` after the first. */
export type ReclaimTiming = { quietMs: number; maxWaitMs: number };
const defaultTiming: ReclaimTiming = { quietMs: 1_000, maxWaitMs: 5_000 };

/**
 * Gives the memory of dropped output back soon after the hub drops it. When a client that does
 * not read goes away, or a result that does not fit closes its connection, what was queued for
 * it (and the strings the result was read and written as) is garbage at once; but V8 collects
 * only when the process allocates, and its memory reducer, once spent during the burst that made
 * the garbage, is not armed again by an idle process. So a hub that goes quiet after such a
 * burst kept hundreds of MiB of garbage indefinitely (issue #26: 20 deaf clients of 20 MB
 * results left RSS at 400 MiB for minutes, against 95 MiB before).
 *
 * When at least 1 MiB was dropped, one full collection runs once the drops have stopped for a
 * second (at most 5 s after the first): the inspector's `HeapProfiler.collectGarbage` on an
 * in-process session, which is Node's stable way to ask for one without `--expose-gc` (it opens
 * no port). Where Node has no inspector, nothing happens: the garbage waits for V8.
 */
export class MemoryReclaimer implements Disposable {
  private droppedBytes = 0;
  private firstDropAt = 0;
  private timer?: NodeJS.Timeout;
  private disposed = false;
  private collections = 0;

  constructor(
    private readonly logger: Logger,
    /** Runs a full garbage collection (tests pass their own). */
    private readonly collect: () => Promise<void> = collectGarbage,
    private readonly timing: ReclaimTiming = defaultTiming,
  ) {}

  /** `bytes` of output to a client were dropped: their memory is garbage now. */
  dropped(bytes: number): void {
    if (this.disposed || bytes <= 0) return;
    if (this.droppedBytes === 0) this.firstDropAt = Date.now();
    this.droppedBytes += bytes;
    if (this.droppedBytes < worthCollectingBytes) return;
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.timing.quietMs, this.firstDropAt + this.timing.maxWaitMs - Date.now()));
    this.timer = setTimeout(() => this.run(), wait);
    this.timer.unref();
  }

  /** How many collections ran. */
  get collected(): number {
    return this.collections;
  }

  private run(): void {
    this.timer = undefined;
    const bytes = this.droppedBytes;
    this.droppedBytes = 0;
    const before = process.memoryUsage();
    this.collect().then(
      () => {
        this.collections += 1;
        const after = process.memoryUsage();
        this.logger.debug(`collected after ${mib(bytes)} of dropped output: heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)}, external ${mib(before.external)} → ${mib(after.external)}, rss ${mib(before.rss)} → ${mib(after.rss)}`);
      },
      (error: unknown) => this.logger.debug(`no collection after dropped output: ${errorMessage(error)}`),
    );
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(0)} MiB`;
}

/** One full collection, asked of V8 through an in-process inspector session. */
async function collectGarbage(): Promise<void> {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  try {
    await new Promise<void>((resolve, reject) => session.post('HeapProfiler.collectGarbage', (error) => (error ? reject(error) : resolve())));
  } finally {
    // Not from within the session's own callback: disconnecting there leaves the session hanging.
    setImmediate(() => session.disconnect());
  }
}
