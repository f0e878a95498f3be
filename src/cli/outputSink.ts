import type { Writable } from 'node:stream';

/**
 * One of the CLI's outputs (stdout, stderr) that can never take the hub down: once a write to it
 * fails (EPIPE when its reader died, EBADF, …), the sink goes quiet for good and only counts what
 * it drops. Nothing about the failure is written back to the same stream: that write would fail
 * too, and a handler that logs its own failure is how the hub used to spin at 100% CPU.
 */
export class OutputSink {
  private failed: Error | undefined;
  private droppedWrites = 0;
  private fallback?: { write(text: string): void };

  constructor(
    private readonly stream: Writable,
    /** Told once, when the stream first fails; must not write to this same stream. */
    private readonly onFail: (error: Error) => void = () => undefined,
  ) {
    // An 'error' with no listener is an uncaught exception; with this one it is the end of the sink.
    // The writes that failed are counted (or given to the fallback) by their own callbacks.
    stream.on('error', (error: Error) => this.fail(error));
  }

  /**
   * Where writes go once the stream has failed (the CLI's `--log-file`), instead of being
   * dropped: those after the failure, and those that failed (the stream had taken them, then
   * could not deliver them).
   */
  fallBackTo(target: { write(text: string): void }): void {
    this.fallback = target;
  }

  /** Writes `text`, or, when the stream has failed, gives it to the fallback or drops and counts it. Never throws. */
  write(text: string): void {
    if (this.failed || this.stream.destroyed) {
      this.undelivered(text);
      return;
    }
    try {
      this.stream.write(text, (error) => {
        if (error) this.undelivered(text);
      });
    } catch (error) {
      this.undelivered(text);
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private undelivered(text: string): void {
    if (this.fallback) this.fallback.write(text);
    else this.droppedWrites += 1;
  }

  /** Writes dropped since the stream failed. */
  get dropped(): number {
    return this.droppedWrites;
  }

  /** Why the stream failed, if it did. */
  get failure(): Error | undefined {
    return this.failed;
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = error;
    try {
      this.onFail(error);
    } catch {
      // the last resort has nothing further to fall back on
    }
  }
}
