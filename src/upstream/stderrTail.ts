import type { Logger } from '../core/infra/logger';

/** A stderr line that says why: `Error: ENOENT: …`, `fatal: …`, `cannot open …`. */
const reasonLine = /\b(error|exception|fatal|cannot|can't|denied|not found|no such)\b/i;

/** What a child printed on stderr during one start attempt: the last lines, and the first that reads as a reason. */
export class StderrTail {
  private readonly tail: string[] = [];
  /** The first line of this attempt's stderr that reads as the reason (a crash's stack ends far below it). */
  private reason?: string;

  constructor(private readonly logger: Logger) {}

  /** A new attempt: what the child printed before says nothing about how this one goes. */
  reset(): void {
    this.tail.length = 0;
    this.reason = undefined;
  }

  record(text: string): void {
    for (const line of text.split('\n')) {
      const trimmed = line.trim();
      if (!trimmed) continue;
      this.logger.debug(`stderr: ${trimmed}`);
      if (this.reason === undefined && reasonLine.test(trimmed)) this.reason = trimmed.slice(0, 300);
      this.tail.push(trimmed.slice(0, 300));
      if (this.tail.length > 10) this.tail.shift();
    }
  }

  /** A failure message with the child's last stderr lines, which usually say why. */
  explain(message: string): string {
    const tail = this.tail.slice(-3);
    const lines = this.reason && !tail.includes(this.reason) ? [this.reason, '…', ...tail] : tail;
    return lines.length ? `${message} (stderr: ${lines.join(' | ')})` : message;
  }
}
