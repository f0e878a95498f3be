import { createHash } from 'node:crypto';
import { closeSync, existsSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { OwnershipIndex, OwnershipRecord, OwnershipStore } from '../core/sessions/ownershipLedger';
import { errorMessage, type Logger } from '../core/infra/logger';

/**
 * The ownership ledger on disk, for one hub process: an append-only journal of the index's
 * changes, one checksummed JSON line each, synced before the change takes effect. Written here,
 * not with a library: the embedded stores that load in VS Code's extension host on every
 * platform without a native module (sql.js, for one) keep the whole database in memory and
 * rewrite the whole file on every change, where a ledger needs one small durable append per
 * claim.
 *
 * - A `kill -9` in the middle of a write leaves a torn last line: it is dropped (that one change
 *   is lost), and the rest is read as it was.
 * - Any other line that does not check out means the file is not what the hub wrote: it is not
 *   replaced by an empty ledger. The store reports the problem, and safe mode refuses every call
 *   it must judge, naming the file, until a human moves it away.
 * - Compaction rewrites the live records to a new file and renames it over the old one, once
 *   the journal holds many times more lines than owned identifiers.
 */
export class OwnershipJournal implements OwnershipStore {
  private fd: number | undefined;
  private problemValue: string | undefined;
  private lines = 0;
  private index?: OwnershipIndex;
  private compacting = false;

  private constructor(
    private readonly path: string,
    private readonly logger: Logger,
  ) {}

  get problem(): string | undefined {
    return this.problemValue;
  }

  get description(): string {
    return this.path;
  }

  /**
   * Opens (or creates) the journal at `path` and returns it with the records to restore. A
   * journal that cannot be read gives no records and a `problem`.
   */
  static open(path: string, logger: Logger): { journal: OwnershipJournal; records: OwnershipRecord[] } {
    const journal = new OwnershipJournal(path, logger);
    let records: OwnershipRecord[] = [];
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      if (existsSync(path)) records = journal.read();
      if (journal.problemValue === undefined) journal.fd = openSync(path, 'a', 0o600);
    } catch (error) {
      journal.problemValue ??= `the ownership store ${path} cannot be opened: ${errorMessage(error)}`;
    }
    if (journal.problemValue) logger.error(`${journal.problemValue}; safe mode refuses every call it must judge until it is fixed`);
    return { journal, records };
  }

  /** The index it writes for, so compaction can write what it holds now. */
  attach(index: OwnershipIndex): void {
    this.index = index;
  }

  private read(): OwnershipRecord[] {
    const text = readFileSync(this.path, 'utf8');
    const lines = text.split('\n');
    // A last line without its newline is one a crash cut short.
    const torn = lines.pop();
    if (torn) this.logger.warn(`ownership store ${this.path}: dropped a last record cut short by a crash`);
    const records: OwnershipRecord[] = [];
    for (const [number, line] of lines.entries()) {
      const record = parseLine(line);
      if (!record) {
        this.problemValue = `the ownership store ${this.path} cannot be read: line ${number + 1} is not a record the hub wrote`;
        return [];
      }
      records.push(record);
    }
    this.lines = lines.length;
    if (torn) this.rewrite(records.map(formatLine));
    return records;
  }

  append(record: OwnershipRecord): void {
    if (this.problemValue !== undefined || this.fd === undefined) throw new Error(this.problemValue ?? `the ownership store ${this.path} is closed`);
    try {
      writeSync(this.fd, formatLine(record));
      fdatasyncSync(this.fd);
    } catch (error) {
      this.problemValue = `the ownership store ${this.path} cannot be written: ${errorMessage(error)}`;
      this.logger.error(`${this.problemValue}; safe mode refuses every call it must judge until it is fixed`);
      throw new Error(this.problemValue);
    }
    this.lines++;
    if (this.lines > 10_000 && this.index && this.lines > 4 * (this.index.size + this.index.tombstones.length)) this.compact();
  }

  /** Writes what the index holds now as the whole journal. */
  private compact(): void {
    if (this.compacting || !this.index) return;
    this.compacting = true;
    try {
      this.rewrite(this.index.records().map(formatLine));
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = openSync(this.path, 'a', 0o600);
    } catch (error) {
      this.logger.warn(`ownership store ${this.path}: compaction failed, the journal keeps growing: ${errorMessage(error)}`);
    } finally {
      this.compacting = false;
    }
  }

  /** Replaces the file whole: written aside, synced, renamed over it. */
  private rewrite(lines: string[]): void {
    const aside = `${this.path}.compacting`;
    const fd = openSync(aside, 'w', 0o600);
    try {
      writeSync(fd, lines.join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(aside, this.path);
    this.lines = lines.length;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function checksum(json: string): string {
  return createHash('sha256').update(json).digest('hex').slice(0, 16);
}

function formatLine(record: OwnershipRecord): string {
  const json = JSON.stringify(record);
  return `${checksum(json)} ${json}\n`;
}

const recordTypes = new Set(['claim', 'forget', 'end', 'revive']);

function parseLine(line: string): OwnershipRecord | undefined {
  const space = line.indexOf(' ');
  if (space !== 16) return undefined;
  const json = line.slice(space + 1);
  if (checksum(json) !== line.slice(0, space)) return undefined;
  try {
    const record = JSON.parse(json) as OwnershipRecord;
    return record && typeof record.session === 'string' && recordTypes.has(record.type) ? record : undefined;
  } catch {
    return undefined;
  }
}
