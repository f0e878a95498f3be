/**
 * The value a `sessionKeys` entry names in a request's `_meta`. A key is first read as one
 * property (`vscode.conversationId` is a single key with a dot in it); failing that, its dots
 * descend into nested objects, so `x-codex-turn-metadata.thread_id` reads
 * `_meta["x-codex-turn-metadata"].thread_id`. The shortest leading part that is an object wins.
 */
export function metaValue(meta: Readonly<Record<string, unknown>>, key: string): unknown {
  if (Object.hasOwn(meta, key)) return meta[key];
  for (let dot = key.indexOf('.'); dot > 0; dot = key.indexOf('.', dot + 1)) {
    const head = meta[key.slice(0, dot)];
    if (Object.hasOwn(meta, key.slice(0, dot)) && typeof head === 'object' && head !== null && !Array.isArray(head)) {
      return metaValue(head as Record<string, unknown>, key.slice(dot + 1));
    }
  }
  return undefined;
}
