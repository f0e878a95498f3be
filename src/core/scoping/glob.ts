/**
 * Selection globs for virtual servers, written `upstream/name`:
 * `*` matches any run of characters (slashes included, since resource URIs have them),
 * `?` matches one character, everything else matches itself.
 * A pattern without `/` names items of any selected upstream: `search` means `*\/search`.
 */
const compiled = new Map<string, RegExp>();

export function globToRegExp(pattern: string): RegExp {
  let regexp = compiled.get(pattern);
  if (!regexp) {
    const qualified = pattern.includes('/') ? pattern : `*/${pattern}`;
    const source = qualified.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    regexp = new RegExp(`^${source}$`, 's');
    compiled.set(pattern, regexp);
  }
  return regexp;
}

export function matchesAny(patterns: readonly string[], candidates: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const regexp = globToRegExp(pattern);
    return candidates.some((candidate) => regexp.test(candidate));
  });
}
