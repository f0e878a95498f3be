import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { OwnershipLedger } from './ownershipLedger';

/**
 * Safe mode: a tool that modifies or deletes may only act on ids the calling session created.
 *
 * - **Creating** tools (names starting `create`, `add`, `deploy`, `new`, or config) have the
 *   GUID-shaped values of their result recorded for the session (structured content and text),
 *   or what their configured `idPaths` / `idPattern` point at.
 * - **Destructive** tools (upstream annotation `destructiveHint: true`, names starting `delete`,
 *   `remove`, `destroy`, `update`, or config) run only if every id-shaped argument (GUID-shaped
 *   values, or the configured `idArguments`) is owned by the session. A destructive call with no
 *   recognizable id is refused too: safe mode cannot tell what it would touch.
 * - **Read-only** tools (annotation `readOnlyHint: true`, or config) are never recorded nor
 *   guarded, so listing another session's ids never makes them yours.
 */
export type ToolKind = 'create' | 'destructive' | 'read' | 'other';

export type SafeModeToolRule = {
  kind?: ToolKind;
  /** Argument names that carry ids (destructive tools); default: every GUID-shaped value. */
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

export const guidPattern = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;

const createPrefixes = ['create', 'add', 'deploy', 'new'];
const destructivePrefixes = ['delete', 'remove', 'destroy', 'update'];

function startsWithWord(name: string, prefixes: readonly string[]): boolean {
  const lower = name.toLowerCase();
  return prefixes.some((prefix) => lower.startsWith(prefix));
}

export function classifyTool(tool: Pick<Tool, 'name' | 'annotations'>, rule: SafeModeToolRule | undefined): ToolKind {
  if (rule?.kind) return rule.kind;
  if (tool.annotations?.readOnlyHint === true) return 'read';
  if (tool.annotations?.destructiveHint === true) return 'destructive';
  if (startsWithWord(tool.name, destructivePrefixes)) return 'destructive';
  if (startsWithWord(tool.name, createPrefixes)) return 'create';
  return 'other';
}

function guidsIn(text: string): string[] {
  return text.match(guidPattern) ?? [];
}

/** Every string value anywhere in a JSON value. */
function stringsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsIn(item, out);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) stringsIn(item, out);
  return out;
}

/** Values at a dotted path where `*` spans an array or object: `items.*.id`. */
function valuesAt(value: unknown, path: string): unknown[] {
  let current: unknown[] = [value];
  for (const part of path.split('.').filter(Boolean)) {
    current = current.flatMap((node) => {
      if (!node || typeof node !== 'object') return [];
      if (part === '*') return Object.values(node as Record<string, unknown>);
      return part in (node as Record<string, unknown>) ? [(node as Record<string, unknown>)[part]] : [];
    });
  }
  return current;
}

/** The ids a creating tool's result names. */
export function createdIds(result: CallToolResult, rule: SafeModeToolRule | undefined): string[] {
  if (result.isError) return [];
  const texts = (result.content ?? []).flatMap((block) => (block.type === 'text' ? [block.text] : []));
  const ids = new Set<string>();
  if (rule?.idPaths?.length) {
    for (const path of rule.idPaths) {
      for (const value of valuesAt(result.structuredContent, path)) if (typeof value === 'string' || typeof value === 'number') ids.add(String(value));
    }
  }
  if (rule?.idPattern) {
    const pattern = new RegExp(rule.idPattern, 'g');
    for (const text of texts) for (const match of text.matchAll(pattern)) ids.add(match[1] ?? match[0]);
  }
  if (!rule?.idPaths?.length && !rule?.idPattern) {
    for (const text of [...stringsIn(result.structuredContent), ...texts]) for (const id of guidsIn(text)) ids.add(id);
  }
  return [...ids];
}

/** The ids a destructive call would act on. */
export function targetIds(args: Record<string, unknown> | undefined, rule: SafeModeToolRule | undefined): string[] {
  if (!args) return [];
  if (rule?.idArguments?.length) {
    return rule.idArguments.flatMap((name) => stringsIn(args[name]).concat(typeof args[name] === 'number' ? [String(args[name])] : []));
  }
  return [...new Set(stringsIn(args).flatMap(guidsIn))];
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
  if (kind !== 'destructive') return { allowed: true, kind, ids: [] };
  const ids = targetIds(input.args, input.rule);
  const name = `'${input.tool.name}'`;
  if (ids.length === 0) {
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
