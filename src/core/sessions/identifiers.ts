import { canonicalId, guidPattern, type IdentifierKind } from './spelling';

/**
 * Identifier-shaped values in JSON, for safe mode. A GUID is found however it is spelled (case,
 * hyphens, whitespace between its groups, inside a longer string or as an object key), since an
 * upstream may normalise it; every id is compared in one canonical form.
 */

/** The GUIDs in a text, as spelled there. */
export function guidsIn(text: string): string[] {
  return text.match(guidPattern) ?? [];
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

/** Lower-case words of a property name: `entityNames` → entity, names; `file_path` → file, path. */
export function wordsOf(name: string): string[] {
  return name
    .split(/[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])/)
    .filter(Boolean)
    .map((word) => word.toLowerCase());
}

const kindOfWord: Record<string, IdentifierKind> = {
  id: 'id', ids: 'id', uuid: 'id', uuids: 'id', guid: 'id', guids: 'id',
  name: 'name', names: 'name',
  path: 'path', paths: 'path', dir: 'path', directory: 'path', folder: 'path',
  uri: 'uri', uris: 'uri', url: 'uri', urls: 'uri',
};
/** Whole property names that identify without an identifying word. */
const kindOfName: Record<string, IdentifierKind> = {
  key: 'id', keys: 'id',
  source: 'path', destination: 'path', src: 'path', dest: 'path',
  from: 'name', to: 'name',
};

/**
 * What a property name says its value identifies, if anything: `id`, `*Id`, `*_ids`, `name`,
 * `entityNames`, `path`, `filePath`, `uri`, `key`, `source`/`destination`, `from`/`to`.
 * `own` marks a bare identifying name (`id`, `name`, `path`…): in a creating call it names the
 * new thing; a qualified one (`entityName`, `parent_id`, `from`) refers to something existing.
 */
export function identifierKindOf(property: string): { kind: IdentifierKind; own: boolean } | undefined {
  const whole = kindOfName[property.toLowerCase()];
  if (whole) return { kind: whole, own: false };
  const words = wordsOf(property);
  const last = words[words.length - 1];
  const kind = last === undefined ? undefined : kindOfWord[last];
  if (!kind) return undefined;
  return { kind, own: words.length === 1 };
}

/** Where a tool's arguments carry an identifier: property names, `*` for each array item. */
export type IdentifierSlot = { path: string[]; kind: IdentifierKind; own: boolean };

type SchemaNode = { type?: unknown; properties?: Record<string, unknown>; items?: unknown };

function schemaNode(value: unknown): SchemaNode | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as SchemaNode) : undefined;
}

/**
 * The identifier slots of a tool, read from its `inputSchema`: identifying properties at any
 * depth, through objects and arrays of objects (`entities[].name`, `deletions[].entityName`).
 * A property whose schema says it holds objects is looked into, not taken as an identifier.
 */
export function identifierSlots(inputSchema: unknown): IdentifierSlot[] {
  // Read once per schema object: a catalog's tools keep theirs until the upstream lists again.
  if (!inputSchema || typeof inputSchema !== 'object') return [];
  let slots = slotsBySchema.get(inputSchema);
  if (!slots) slotsBySchema.set(inputSchema, (slots = slotsIn(inputSchema, 0, [])));
  return slots;
}

const slotsBySchema = new WeakMap<object, IdentifierSlot[]>();

function slotsIn(inputSchema: unknown, depth: number, path: string[]): IdentifierSlot[] {
  const node = schemaNode(inputSchema);
  if (!node || depth > 8) return [];
  const slots: IdentifierSlot[] = [];
  for (const [property, child] of Object.entries(node.properties ?? {})) {
    const childNode = schemaNode(child);
    const items = schemaNode(childNode?.items);
    const holdsObjects = childNode?.type === 'object' || (childNode?.type === 'array' && (items?.type === 'object' || items?.properties));
    if (holdsObjects) {
      const inner = childNode?.type === 'array' ? items : childNode;
      slots.push(...slotsIn(inner, depth + 1, [...path, property, ...(childNode?.type === 'array' ? ['*'] : [])]));
      continue;
    }
    const identifies = identifierKindOf(property);
    if (identifies) slots.push({ path: [...path, property], ...identifies });
  }
  return slots;
}

/** One identifier a call names, and the JSON pointer it stands at in the arguments. */
export type NamedIdentifier = { kind: IdentifierKind; value: string; own: boolean; at: string };

/**
 * The identifiers at the given slots of a call's arguments (strings, numbers, arrays of them),
 * whatever their length: a value in an identifier slot is judged, never taken for content.
 */
export function identifiersAt(args: unknown, slots: readonly IdentifierSlot[]): NamedIdentifier[] {
  const found: NamedIdentifier[] = [];
  const take = (value: unknown, slot: IdentifierSlot, at: string) => {
    if (typeof value === 'number' && Number.isFinite(value)) found.push({ kind: slot.kind, value: String(value), own: slot.own, at });
    else if (typeof value === 'string' && value !== '') found.push({ kind: slot.kind, value, own: slot.own, at });
  };
  for (const slot of slots) {
    let level: Array<{ value: unknown; at: string }> = [{ value: args, at: '' }];
    for (const part of slot.path) {
      level = level.flatMap(({ value, at }) => {
        if (part === '*') return Array.isArray(value) ? value.map((item, index) => ({ value: item, at: `${at}/${index}` })) : [];
        if (!value || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, part)) return [];
        return [{ value: (value as Record<string, unknown>)[part], at: `${at}/${part.replace(/~/g, '~0').replace(/\//g, '~1')}` }];
      });
    }
    for (const { value, at } of level) {
      if (Array.isArray(value)) value.forEach((item, index) => take(item, slot, `${at}/${index}`));
      else take(value, slot, at);
    }
  }
  return found;
}
