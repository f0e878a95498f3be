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

  constructor(
    private readonly stream: Writable,
    /** Told once, when the stream first fails; must not write to this same stream. */
    private readonly onFail: (error: Error) => void = () => undefined,
  ) {
    // An 'error' with no listener is an uncaught exception; with this one it is the end of the sink.
    stream.on('error', (error: Error) => {
      this.droppedWrites += 1; // the write that failed
      this.fail(error);
    });
  }

  /** Writes `text`, or drops and counts it when the stream has failed. Never throws. */
  write(text: string): void {
    if (this.failed || this.stream.destroyed) {
      this.droppedWrites += 1;
      return;
    }
    try {
      this.stream.write(text);
    } catch (error) {
      this.droppedWrites += 1;
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
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
