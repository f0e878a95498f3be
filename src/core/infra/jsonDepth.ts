/**
 * How deeply a JSON text nests arrays and objects, read from its bytes before anything parses it:
 * a 4 MB body can nest two million levels, and every recursive walker (validation, copying,
 * serialising) would overflow the stack on it after the parser had built millions of objects.
 * Stops counting, and returns, as soon as the depth passes `limit`.
 */
export function jsonDepthExceeds(text: Uint8Array | string, limit: number): boolean {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  // Most bodies open a handful of arrays and objects: counted natively, that settles it without a walk in JS.
  if (openersAtMost(bytes, limit)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === 0x5c) i++; // backslash: the next byte is escaped
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > limit) return true;
    } else if (byte === 0x5d || byte === 0x7d) depth--;
  }
  return false;
}

/** Whether `bytes` holds at most `limit` of `[` and `{`: then no nesting can pass `limit`, strings or not. */
function openersAtMost(bytes: Buffer, limit: number): boolean {
  let count = 0;
  for (const opener of [0x5b, 0x7b]) {
    for (let at = bytes.indexOf(opener); at !== -1; at = bytes.indexOf(opener, at + 1)) if (++count > limit) return false;
  }
  return true;
}
