/**
 * Splits a byte stream into lines, holding at most `maxBytes` of an incomplete one. The SDK's
 * `ReadBuffer` concatenates every chunk onto what it holds, which copies a 32 MiB message
 * hundreds of times (quadratic); here chunks are kept apart and joined once per line.
 */
export class LineBuffer {
  private chunks: Buffer[] = [];
  private held = 0;

  constructor(private readonly maxBytes: number) {}

  /** The lines this chunk completes (without `\n` or `\r\n`); throws `LineTooLongError` past the limit. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      const tail = chunk.subarray(start, end);
      const line = this.chunks.length > 0 ? Buffer.concat([...this.chunks, tail]) : tail;
      this.clear();
      if (line.length > this.maxBytes) throw new LineTooLongError(this.maxBytes);
      lines.push(line.toString('utf8').replace(/\r$/, ''));
      start = end + 1;
    }
    if (start < chunk.length) {
      this.chunks.push(chunk.subarray(start));
      this.held += chunk.length - start;
      if (this.held > this.maxBytes) {
        this.clear();
        throw new LineTooLongError(this.maxBytes);
      }
    }
    return lines;
  }

  clear(): void {
    this.chunks = [];
    this.held = 0;
  }
}

export class LineTooLongError extends Error {
  constructor(readonly limit: number) {
    super(`upstream sent a message larger than ${limit} bytes (hub.maxUpstreamMessageBytes)`);
  }
}
