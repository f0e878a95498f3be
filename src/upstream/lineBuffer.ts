import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a byte stream into lines, holding at most `maxBytes` of an incomplete one. The SDK's
 * `ReadBuffer` concatenates every chunk onto what it holds, which copies a 32 MiB message
 * hundreds of times (quadratic). Here a line that spans chunks is decoded chunk by chunk and
 * joined once, as a string: a large message is never copied into one more Buffer and then into
 * a string made from it. Those two copies were malloc'd memory (Node keeps a large ASCII string
 * outside V8's heap), which glibc keeps from the system once freed; V8's heap gives it back.
 */
export class LineBuffer {
  private readonly decoder = new StringDecoder('utf8');
  private pieces: string[] = [];
  private held = 0;

  constructor(private readonly maxBytes: number) {}

  /** The lines this chunk completes (without `\n` or `\r\n`); throws `LineTooLongError` past the limit. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      const tail = chunk.subarray(start, end);
      if (this.held + tail.length > this.maxBytes) {
        this.clear();
        throw new LineTooLongError(this.maxBytes);
      }
      // A newline never falls inside a UTF-8 sequence: the decoder holds nothing past it.
      const line = this.held > 0 ? this.pieces.join('') + this.decoder.end(tail) : tail.toString('utf8');
      this.clear();
      lines.push(line.replace(/\r$/, ''));
      start = end + 1;
    }
    if (start < chunk.length) {
      this.held += chunk.length - start;
      if (this.held > this.maxBytes) {
        this.clear();
        throw new LineTooLongError(this.maxBytes);
      }
      this.pieces.push(this.decoder.write(chunk.subarray(start)));
    }
    return lines;
  }

  clear(): void {
    this.pieces = [];
    this.held = 0;
    this.decoder.end();
  }
}

export class LineTooLongError extends Error {
  constructor(readonly limit: number) {
    super(`upstream sent a message larger than ${limit} bytes (hub.maxUpstreamMessageBytes)`);
  }
}
