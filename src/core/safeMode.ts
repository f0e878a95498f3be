import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { canonicalId, guidsAnywhere, guidsIn, scalarsIn } from './identifiers';
import type { OwnershipLedger } from './ownershipLedger';

/**
 * Safe mode: a tool that may modify or delete may only act on ids the calling session created.
 *
 * Tools are judged by the MCP spec's defaults: a tool without `readOnlyHint: true` may modify,
 * and without `destructiveHint: false` may destroy.
 * - **read**: `readOnlyHint: true`. Never guarded, never recorded: listing another session's ids
 *   never makes them yours.
 * - **create**: a name whose first word creates (`create`, `add`, `new`, `insert`, `make`,
 *   `deploy`). Ids in its result that were not in its own arguments become the session's, unless
 *   another session already owns them on that upstream (a collision, reported, never recorded).
 * - **destructive**: `destructiveHint: true`, or `readOnlyHint: false` without
 *   `destructiveHint: false`, or a destroying word anywhere in the name (`delete`, `purge`,
 *   `archive`, `item_delete`…). Every id it would touch must be owned; with no recognizable id
 *   it is refused, since safe mode cannot tell what it touches.
 * - **guarded**: no annotations and no telling name, so possibly destructive by the spec. Every id
 *   it would touch must be owned; a call with no id-shaped value passes.
 * - **additive**: `readOnlyHint: false, destructiveHint: false` and not a creating name. Not guarded.
 * The ids a call touches are every GUID anywhere in its arguments (values and keys, any spelling)
 * plus the values of configured `idArguments`: one unowned id refuses the call.
 */
export type ToolKind = 'create' | 'destructive' | 'guarded' | 'additive' | 'read';

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
};

export type SafeModePolicy = {
  enabled: boolean;
  tools: Record<string, SafeModeToolRule>;
};

const createWords = new Set(['create', 'add', 'new', 'insert', 'make', 'deploy']);
const destroyWords = new Set([
  'delete', 'del', 'remove', 'rm', 'destroy', 'drop', 'purge', 'archive', 'update', 'edit', 'write', 'overwrite', 'move',
  'rename', 'set', 'modify', 'patch', 'replace', 'clear', 'reset', 'truncate', 'erase', 'wipe', 'kill', 'terminate', 'revoke', 'unlink',
]);

/** `removeUser`, `item_delete`, `purge-all` → their lower-case words. */
function wordsOf(name: string): string[] {
  return name
    .split(/[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])/)
    .filter(Boolean)
    .map((word) => word.toLowerCase());
}

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

/**
 * The ids a creating call's result names, less every id its own arguments already named: a
 * session owns what the upstream created for it, never what it merely passed in and got echoed.
 */
export function createdIds(result: CallToolResult, rule: SafeModeToolRule | undefined, args?: Record<string, unknown>): string[] {
  if (result.isError) return [];
  const texts = (result.content ?? []).flatMap((block) => (block.type === 'text' ? [block.text] : []));
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
  }
  const given = new Set([...guidsAnywhere(args), ...scalarsIn(args)].map(canonicalId));
  return [...ids].filter(([canonical]) => !given.has(canonical)).map(([, id]) => id);
}

/** The ids a call would touch: every GUID anywhere in its arguments, and the configured id arguments. */
export function targetIds(args: Record<string, unknown> | undefined, rule: SafeModeToolRule | undefined): string[] {
  if (!args) return [];
  const ids = new Map<string, string>();
  for (const id of guidsAnywhere(args)) ids.set(canonicalId(id), id);
  for (const name of rule?.idArguments ?? []) {
    if (!Object.hasOwn(args, name)) continue;
    for (const value of scalarsIn(args[name])) if (value.trim() && !ids.has(canonicalId(value))) ids.set(canonicalId(value), value);
  }
  return [...ids.values()];
}

export type SafeModeVerdict = { allowed: true; kind: ToolKind; ids: string[] } | { allowed: false; kind: ToolKind; reason: string };

/** Decides whether a call may reach the upstream, given the calling session's ledger. */
export function checkCall(input: {
  upstream: string;
  tool: Pick<Tool, 'name' | 'annotations'>;
  args: Record<string, unknown> | undefined;
  rule: SafeModeToolRule | undefined;
  ledger: OwnershipLedger;
}): SafeModeVerdict {
  const kind = classifyTool(input.tool, input.rule);
  if (kind !== 'destructive' && kind !== 'guarded') return { allowed: true, kind, ids: [] };
  const ids = targetIds(input.args, input.rule);
  const name = `'${input.tool.name}'`;
  if (ids.length === 0 && kind === 'destructive') {
    return {
      allowed: false,
      kind,
      reason: `Safe mode refused ${name}: it modifies or deletes, and none of its arguments is an id this session created (configure idArguments for this tool, or turn safe mode off for this upstream)`,
    };
  }
  const foreign = ids.find((id) => !input.ledger.owns(input.upstream, id));
  if (foreign !== undefined) {
    return {
      allowed: false,
      kind,
      reason: `Safe mode refused ${name}: id ${foreign} was not created by this session (a session may only modify or delete what it created)`,
    };
  }
  return { allowed: true, kind, ids };
}
