import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import {
  guidsAnywhere,
  guidsIn,
  identifierKindOf,
  identifiersAt,
  identifierSlots,
  scalarsIn,
  wordsOf,
  type IdentifierSlot,
  type NamedIdentifier,
} from './identifiers';
import { canonicalId } from './spelling';
import { stableStringify } from '../infra/stableJson';

/**
 * Safe mode: a tool that may modify or delete may only act on what the calling session created.
 * What a call touches is read from the tool's input schema (see `identifierSlots`: ids, names,
 * paths, URIs, nested arrays included), from every GUID anywhere in its arguments, and from
 * configured `idArguments`.
 *
 * Tools are judged by the MCP spec's defaults: a tool without `readOnlyHint: true` may modify,
 * and without `destructiveHint: false` may destroy.
 * - **read**: `readOnlyHint: true`. Never judged, never recorded: listing another session's
 *   things never makes them yours.
 * - **create**: a name whose first word creates (`create`, `add`, `new`, `insert`, `make`,
 *   `deploy`). What it refers to (`entityName`, `from`) must be the session's; the new things it
 *   names (`name`, `path`) and the ids in its result become the session's once it succeeds.
 * - **destructive**: `destructiveHint: true`, or `readOnlyHint: false` without
 *   `destructiveHint: false`, or a modifying word anywhere in the name (`delete`, `write`,
 *   `move`, `item_delete`…). Everything it would touch must be the session's; with nothing
 *   recognisable it is asked about, since safe mode cannot tell what it touches.
 * - **guarded**: no annotations and no telling name, so possibly destructive by the spec. Every
 *   GUID and configured id must be the session's; names and paths from its schema are not judged.
 * - **additive**: `readOnlyHint: false, destructiveHint: false` and not a creating name. Not judged.
 * - **command**: runs whatever command or code it is given (a shell, `start_process`). Only by a
 *   rule or profile. Safe mode cannot see what a command does, so such a call is always asked,
 *   with the command shown; its text is never read for identifiers.
 * Another session's thing refuses a call outright; something nobody here created is asked about.
 */
export type ToolKind = 'create' | 'destructive' | 'guarded' | 'additive' | 'read' | 'command';

/** Spellings accepted in config for the kinds (the first wave's `other` is today's `additive`). */
export type ConfiguredToolKind = ToolKind | 'other';

export type SafeModeToolRule = {
  kind?: ConfiguredToolKind;
  /** Argument names that carry ids, checked besides every GUID-shaped value. */
  idArguments?: string[];
  /** Dotted paths into structuredContent where created ids are (`id`, `items.*.id`). */
  idPaths?: string[];
  /** A regular expression whose first group (or whole match) is a created id, over text content. */
  idPattern?: string;
  /** For a `command` tool: the argument that holds the command, shown in the approval request. */
  commandArgument?: string;
};

/** A read-only tool that says whether a path exists: it errs (ENOENT) when it does not. */
export type ExistenceProbe = { tool: string; argument: string };

export type SafeModePolicy = {
  enabled: boolean;
  /** Rules per tool; a tool's rule here replaces its profile's. */
  tools: Record<string, SafeModeToolRule>;
  /** The shipped profile to use: a profile's name, `false` for none; unset: matched by the server's `serverInfo.name`. */
  profile?: string | false;
  /** Unset: from the profile; `false`: never ask the upstream whether a path exists. */
  existenceProbe?: ExistenceProbe | false;
  /** Unset: as the hub's own platform (a remote upstream: both readings). */
  platform?: 'posix' | 'windows';
  /** Unset: as the platform (true on macOS and Windows). */
  caseInsensitivePaths?: boolean;
};

const createWords = new Set(['create', 'add', 'new', 'insert', 'make', 'deploy']);
const destroyWords = new Set([
  'delete', 'del', 'remove', 'rm', 'destroy', 'drop', 'purge', 'archive', 'update', 'edit', 'write', 'overwrite', 'move',
  'rename', 'set', 'modify', 'patch', 'replace', 'clear', 'reset', 'truncate', 'erase', 'wipe', 'kill', 'terminate', 'revoke', 'unlink',
]);

export function classifyTool(tool: Pick<Tool, 'name' | 'annotations'>, rule: SafeModeToolRule | undefined): ToolKind {
  if (rule?.kind) return rule.kind === 'other' ? 'additive' : rule.kind;
  const { readOnlyHint, destructiveHint } = tool.annotations ?? {};
  if (readOnlyHint === true) return 'read';
  const words = wordsOf(tool.name);
  if (destructiveHint === true || words.some((word) => destroyWords.has(word))) return 'destructive';
  if (createWords.has(words[0] ?? '')) return 'create';
  if (readOnlyHint === false) return destructiveHint === false ? 'additive' : 'destructive';
  return destructiveHint === false ? 'additive' : 'guarded';
}

/** Values at a dotted path where `*` spans an array or object: `items.*.id`. */
function valuesAt(value: unknown, path: string): unknown[] {
  let current: unknown[] = [value];
  for (const part of path.split('.').filter(Boolean)) {
    current = current.flatMap((node) => {
      if (!node || typeof node !== 'object') return [];
      if (part === '*') return Object.values(node as Record<string, unknown>);
      return Object.hasOwn(node, part) ? [(node as Record<string, unknown>)[part]] : [];
    });
  }
  return current;
}

/** The argument slots a rule names: a property name, or a JSON pointer with `*` for array items. */
export function configuredSlots(rule: SafeModeToolRule | undefined): IdentifierSlot[] {
  return (rule?.idArguments ?? []).map((entry) => {
    const path = entry.startsWith('/') ? entry.slice(1).split('/').map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~')) : [entry];
    const last = [...path].reverse().find((part) => part !== '*') ?? entry;
    return { path, ...(identifierKindOf(last) ?? { kind: 'id' as const, own: false }) };
  });
}

/** Everything a call's arguments identify: schema and rule slots, and every GUID anywhere. */
export function identifiersOfCall(tool: SafeModeTool, args: Record<string, unknown> | undefined, rule: SafeModeToolRule | undefined, readSchema = true): NamedIdentifier[] {
  if (!args) return [];
  const found = new Map<string, NamedIdentifier>();
  const slots = readSchema ? [...identifierSlots(tool.inputSchema), ...configuredSlots(rule)] : configuredSlots(rule);
  for (const identifier of identifiersAt(args, slots)) {
    const key = `${identifier.kind}\u0000${identifier.value}`;
    const seen = found.get(key);
    // A value named twice is "own" only if every place names it as the new thing.
    found.set(key, seen ? { ...seen, own: seen.own && identifier.own } : identifier);
  }
  for (const id of guidsAnywhere(args)) {
    const key = `id\u0000${canonicalId(id)}`;
    if (!found.has(key)) found.set(key, { kind: 'id', value: id, own: false, at: '(anywhere)' });
  }
  return [...found.values()];
}

/** Values at properties named `name` (or whatever `property` is) anywhere in a JSON value. */
function valuesNamed(value: unknown, property: string): Set<string> {
  const out = new Set<string>();
  const stack: unknown[] = [value];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (Array.isArray(node)) stack.push(...node);
    else if (node && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        if (key === property && (typeof item === 'string' || typeof item === 'number')) out.add(String(item));
        else stack.push(item);
      }
    }
  }
  return out;
}

/** A result's structured content and every text block that is JSON, parsed. */
function resultValues(result: CallToolResult): unknown[] {
  const values: unknown[] = result.structuredContent === undefined ? [] : [result.structuredContent];
  for (const block of result.content ?? []) {
    if (block.type !== 'text' || !/^\s*[[{]/.test(block.text)) continue;
    try {
      values.push(JSON.parse(block.text) as unknown);
    } catch {
      // prose that starts with a bracket
    }
  }
  return values;
}

/**
 * What a successful creating call made the session own:
 * - the new things its arguments named (`entities[].name`, `path`). When the result lists values
 *   under the same property, only those listed: a server that skips what already existed (the
 *   memory server does) returns only what it made.
 * - the ids its result names: GUIDs anywhere, values of `id` fields, or where the rule points,
 *   less every id its own arguments already named (an echo is not a creation).
 */
export function createdIds(
  result: CallToolResult,
  rule: SafeModeToolRule | undefined,
  args?: Record<string, unknown>,
  created: readonly NamedIdentifier[] = [],
): { named: NamedIdentifier[]; opaque: string[] } {
  if (result.isError) return { named: [], opaque: [] };
  const texts = (result.content ?? []).flatMap((block) => (block.type === 'text' ? [block.text] : []));
  const parsed = resultValues(result);
  const ids = new Map<string, string>();
  const add = (id: string) => {
    if (id.trim() && !ids.has(canonicalId(id))) ids.set(canonicalId(id), id);
  };
  if (rule?.idPaths?.length) {
    for (const path of rule.idPaths) {
      for (const value of valuesAt(result.structuredContent, path)) if (typeof value === 'string' || typeof value === 'number') add(String(value));
    }
  }
  if (rule?.idPattern) {
    const pattern = new RegExp(rule.idPattern, 'g');
    for (const text of texts) for (const match of text.matchAll(pattern)) add(match[1] ?? match[0]);
  }
  if (!rule?.idPaths?.length && !rule?.idPattern) {
    for (const id of guidsAnywhere(result.structuredContent)) add(id);
    for (const text of texts) for (const id of guidsIn(text)) add(id);
    for (const value of parsed) for (const id of valuesNamed(value, 'id')) add(id);
  }
  const given = new Set([...guidsAnywhere(args), ...scalarsIn(args)].map(canonicalId));
  const opaque = [...ids].filter(([canonical]) => !given.has(canonical)).map(([, id]) => id);
  const answeredEmptyList = parsed.some((value) => Array.isArray(value) && value.length === 0);
  const listedByProperty = new Map<string, Set<string>>();
  const named = created.filter((identifier) => {
    const property = identifier.at.split('/').filter((part) => !/^\d+$/.test(part)).pop() ?? '';
    let listed = listedByProperty.get(property);
    if (!listed) listedByProperty.set(property, (listed = new Set(parsed.flatMap((value) => [...valuesNamed(value, property)]))));
    // A result that lists nothing under that property says nothing of what was made, unless it
    // is an empty list: the memory server answers `[]` when every entity existed already.
    return listed.has(identifier.value) || (listed.size === 0 && !answeredEmptyList);
  });
  return { named, opaque };
}

/** What safe mode reads of a tool: its name, annotations and input schema. */
export type SafeModeTool = Pick<Tool, 'name' | 'annotations'> & { inputSchema?: unknown };

/**
 * The digest an approval is bound to: the upstream, the tool and its exact arguments. An answer
 * allows the call that asked and nothing else; a call differing by one character asks again.
 */
export function callDigest(upstream: string, tool: string, args: Record<string, unknown> | undefined): string {
  return createHash('sha256').update(stableStringify({ upstream, tool, args: args ?? {} })).digest('hex');
}

/** How safe mode answered one call. */
export type SafeModeOutcome = 'allowed' | 'refused' | 'approved once' | 'approved for the session' | 'denied' | 'unanswered';

/** One decision; `identifiers` holds at most the first 20 the call named. */
export type SafeModeDecision = { at: number; upstream: string; tool: string; outcome: SafeModeOutcome; identifiers: string[]; digest: string; why?: string };

/** A session's safe-mode decisions, newest first, at most `limit` of them. */
export class SafeModeJournal {
  private readonly decisions: SafeModeDecision[] = [];

  constructor(private readonly limit = 50) {}

  add(decision: SafeModeDecision): void {
    this.decisions.unshift(decision);
    if (this.decisions.length > this.limit) this.decisions.length = this.limit;
  }

  get entries(): readonly SafeModeDecision[] {
    return this.decisions;
  }
}
