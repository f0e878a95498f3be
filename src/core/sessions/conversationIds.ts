/**
 * Whether a client's conversation id (from `_meta`, see `hub.sessionKeys`) can name a chat
 * session. It becomes a session id shown in `/admin/state`, the tree and logs, so it is a string
 * of 1-256 UTF-16 units with no control characters (C0, DEL, C1), no line or paragraph separators
 * and no lone surrogates. Anything else is ignored as a non-string is: the call runs in the
 * connection's session.
 */
export function isUsableConversationId(value: unknown): value is string {
  // \p{Cc}: C0, DEL and C1; U+2028/U+2029 end a line as CR/LF do; the u flag sees lone surrogates as code points.
  return typeof value === 'string' && value.length > 0 && value.length <= maxConversationIdLength && !/[\p{Cc}\u2028\u2029\p{Surrogate}]/u.test(value);
}

export const maxConversationIdLength = 256;

/** A value as it may be logged: JSON-escaped (control characters and lone surrogates included), cut to `max` characters. */
export function escapedForLog(value: unknown, max = 80): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : `${typeof value} ${JSON.stringify(value) ?? String(value)}`;
  return text.length > max ? `${text.slice(0, max)}… (${typeof value === 'string' ? `${value.length} characters` : 'cut'})` : text;
}
