/**
 * Identifier-shaped values in JSON, for safe mode. A GUID is found however it is spelled (case,
 * hyphens, whitespace between its groups, inside a longer string or as an object key), since an
 * upstream may normalise it; every id is compared in one canonical form.
 */

/** A GUID with optional separators between its groups, not part of a longer run of hex digits. */
const guidLike = /(?<![0-9a-f])[0-9a-f]{8}(?:[-\s]*[0-9a-f]{4}){3}[-\s]*[0-9a-f]{12}(?![0-9a-f])/gi;
const guidWhole = new RegExp(`^${guidLike.source}$`, 'i');

/** The form ids are compared in: a GUID lower-cased without separators; anything else trimmed. */
export function canonicalId(id: string): string {
  const trimmed = id.trim();
  return guidWhole.test(trimmed) ? trimmed.toLowerCase().replace(/[-\s]/g, '') : trimmed;
}

/** The GUIDs in a text, as spelled there. */
export function guidsIn(text: string): string[] {
  return text.match(guidLike) ?? [];
}

/**
 * Every string value and every object key anywhere in a JSON value, and every number. Iterative,
 * so no input depth can overflow the stack (the HTTP edge bounds depth too).
 */
export function scalarsIn(value: unknown): string[] {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'string') out.push(node);
    else if (typeof node === 'number' && Number.isFinite(node)) out.push(String(node));
    else if (Array.isArray(node)) for (const item of node) stack.push(item);
    else if (node && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        out.push(key);
        stack.push(item);
      }
    }
  }
  return out;
}

/** Every GUID anywhere in a JSON value (strings and keys), deduplicated by canonical form. */
export function guidsAnywhere(value: unknown): string[] {
  const found = new Map<string, string>();
  for (const text of scalarsIn(value)) for (const id of guidsIn(text)) if (!found.has(canonicalId(id))) found.set(canonicalId(id), id);
  return [...found.values()];
}
