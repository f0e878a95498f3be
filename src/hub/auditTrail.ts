import { promises as fs, mkdirSync, chmodSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActivityRecord, ActivitySettings } from '../core/infra/activity';
import { errorMessage, type Logger } from '../core/infra/logger';

/** The audit file's name in its folder; rotated ones are `activity.1.jsonl` (newest) … `activity.N.jsonl`. */
export const auditFileName = 'activity.jsonl';

/** The audit folder in a hub's state folder. */
export function auditFolder(stateFolder: string): string {
  return join(stateFolder, 'audit');
}

/** The files of an audit folder, oldest first: the rotated ones from the highest number, then the current one. */
export function auditFiles(folder: string, keep: number): string[] {
  const rotated = Array.from({ length: keep }, (_, i) => join(folder, `activity.${keep - i}.jsonl`));
  return [...rotated, join(folder, auditFileName)];
}

/** How long records wait to be written together: one write per batch, not one file open per call. */
const batchDelayMs = 50;

/**
 * The audit trail on disk: every activity record as one JSON line, in a 0700 folder and 0600
 * files, rotated by size. Writes are batched (at most `batchDelayMs` late) and asynchronous on a
 * file kept open, so a call never waits for the disk; a batch that cannot be written (disk full,
 * folder gone) is dropped and counted, and the hub goes on. `close` writes what is pending.
 */
export class AuditTrail {
  private pending: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private scheduled = false;
  private size = 0;
  private closed = false;
  private handle?: FileHandle;
  /** Records written. */
  written = 0;
  /** Records that could not be written. */
  dropped = 0;
  lastError?: string;
  readonly path: string;

  constructor(
    readonly folder: string,
    private readonly settings: ActivitySettings['audit'],
    private readonly logger: Logger,
    /** Told of every dropped record (the metrics count them). */
    private readonly onDrop: (count: number) => void = () => undefined,
  ) {
    this.path = join(folder, auditFileName);
    try {
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      chmodSync(folder, 0o700);
    } catch (error) {
      this.lastError = errorMessage(error);
    }
  }

  /** Queues a record; it is on disk once `flush` resolves. */
  append(record: ActivityRecord): void {
    if (this.closed) return;
    this.pending.push(`${JSON.stringify(record)}\n`);
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.chain = this.chain.then(() => this.writeBatch());
    }, batchDelayMs).unref();
  }

  /** Resolves when everything queued so far is written or dropped. */
  async flush(): Promise<void> {
    if (this.pending.length > 0) this.chain = this.chain.then(() => this.writeBatch());
    await this.chain;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.closeHandle();
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  private async writeBatch(): Promise<void> {
    const lines = this.pending;
    this.pending = [];
    if (lines.length === 0) return;
    let done = 0;
    try {
      if (!this.handle) {
        this.handle = await fs.open(this.path, 'a', 0o600);
        this.size = (await this.handle.stat()).size;
      }
      // Lines go to the current file until it reaches its size; a batch may be split across files.
      let start = 0;
      while (start < lines.length) {
        let bytes = 0;
        let end = start;
        while (end < lines.length) {
          const length = Buffer.byteLength(lines[end] ?? '');
          if (end > start && this.size + bytes + length > this.settings.maxFileBytes) break;
          bytes += length;
          end++;
        }
        if (this.size > 0 && this.size + bytes > this.settings.maxFileBytes) {
          await this.rotate();
          continue;
        }
        await this.handle.appendFile(lines.slice(start, end).join(''));
        this.size += bytes;
        this.written += end - start;
        done += end - start;
        start = end;
      }
      this.lastError = undefined;
    } catch (error) {
      const first = this.dropped === 0;
      // What was not written of this batch is dropped; the file's size is read again next time.
      const count = lines.length - done;
      this.dropped += count;
      // The file is opened again next time: the folder may have come back, or the file been moved.
      await this.closeHandle();
      this.lastError = errorMessage(error);
      this.onDrop(count);
      if (first) this.logger.warn(`audit trail: could not write ${this.path}: ${this.lastError}; records are dropped and counted until it can`);
    }
  }

  private async rotate(): Promise<void> {
    await this.closeHandle();
    const keep = this.settings.files;
    if (keep <= 0) {
      await fs.rm(this.path, { force: true });
    } else {
      await fs.rm(join(this.folder, `activity.${keep}.jsonl`), { force: true });
      for (let i = keep - 1; i >= 1; i--) {
        await fs.rename(join(this.folder, `activity.${i}.jsonl`), join(this.folder, `activity.${i + 1}.jsonl`)).catch(() => undefined);
      }
      await fs.rename(this.path, join(this.folder, 'activity.1.jsonl'));
    }
    this.handle = await fs.open(this.path, 'a', 0o600);
    this.size = 0;
  }
}
