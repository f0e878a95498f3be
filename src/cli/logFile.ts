import { closeSync, fchmodSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';

/** How large a log file grows before it is moved aside to `<file>.1` (replacing the one there). */
export const defaultLogFileMaxBytes = 10 * 1024 * 1024;

/**
 * The CLI's log file (`serve --log-file`), where its output goes once stdout or stderr fails
 * (EPIPE when their reader died). Private to the user (0600, also when it already existed),
 * appended to, and bounded: past `maxBytes` it is moved to `<file>.1` and started again, so at
 * most twice that is kept. Written synchronously, a line at a time: a failed write is dropped
 * and counted, never reported to the file itself.
 */
export class LogFile {
  private fd: number | undefined;
  private size = 0;
  private droppedWrites = 0;

  /** Opens (or creates) the file now: one that cannot be opened is the caller's error to report. */
  constructor(
    readonly path: string,
    private readonly maxBytes = defaultLogFileMaxBytes,
  ) {
    this.open();
  }

  write(text: string): void {
    try {
      const bytes = Buffer.from(text);
      if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
      if (this.fd === undefined) throw new Error('log file closed');
      writeSync(this.fd, bytes);
      this.size += bytes.length;
    } catch {
      this.droppedWrites += 1;
    }
  }

  /** Writes that failed (disk full, file gone read-only, …). */
  get dropped(): number {
    return this.droppedWrites;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    const fd = openSync(this.path, 'a', 0o600);
    try {
      fchmodSync(fd, 0o600); // an existing file keeps its mode when opened: put it back
      this.size = fstatSync(fd).size;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.fd = fd;
  }

  private rotate(): void {
    this.close();
    renameSync(this.path, `${this.path}.1`);
    this.open();
  }
}
