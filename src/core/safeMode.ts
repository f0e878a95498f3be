import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import {
  canonicalId,
  canonicalIdentifier,
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
import type { OwnedIdentifier, OwnershipLedger } from './ownershipLedger';
import { stableStringify } from './stableJson';

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
 * Another session's thing refuses a call outright; something nobody here created is asked about.
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
    const key = `${identifier.kind}\u0000${canonicalIdentifier(identifier.kind, identifier.value)}`;
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
export function createdIds(result: CallToolResult, rule: SafeModeToolRule | undefined, args?: Record<string, unknown>, created: readonly NamedIdentifier[] = []): OwnedIdentifier[] {
  if (result.isError) return [];
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
  const fromResult: OwnedIdentifier[] = [...ids].filter(([canonical]) => !given.has(canonical)).map(([, id]) => id);
  const listedByProperty = new Map<string, Set<string>>();
  const named = created.filter((identifier) => {
    const property = identifier.at.split('/').filter((part) => !/^\d+$/.test(part)).pop() ?? '';
    let listed = listedByProperty.get(property);
    if (!listed) listedByProperty.set(property, (listed = new Set(parsed.flatMap((value) => [...valuesNamed(value, property)]))));
    return listed.size === 0 || listed.has(identifier.value);
  });
  return [...named.map(({ kind, value }) => ({ kind, value })), ...fromResult];
}

/** What safe mode reads of a tool: its name, annotations and input schema. */
export type SafeModeTool = Pick<Tool, 'name' | 'annotations'> & { inputSchema?: unknown };

/**
 * Safe mode's answer for one call:
 * - `allow`, with the new things a creating call names (recorded once it succeeds);
 * - `refuse`: it names something another session owns. Never asked: no answer from this session's
 *   client may hand it another session's things;
 * - `ask`: it touches what nobody here created (or, for a destructive tool, nothing safe mode can
 *   recognise). The calling client's human may allow it; without one it is refused.
 */
export type SafeModeVerdict =
  | { outcome: 'allow'; kind: ToolKind; touched: NamedIdentifier[]; creates: NamedIdentifier[] }
  | { outcome: 'refuse'; kind: ToolKind; reason: string; identifiers: NamedIdentifier[] }
  | { outcome: 'ask'; kind: ToolKind; reason: string; identifiers: NamedIdentifier[] };

export function describeIdentifier(identifier: NamedIdentifier): string {
  return `${identifier.kind} ${identifier.value}${identifier.at === '(anywhere)' ? '' : ` (argument ${identifier.at})`}`;
}

/** "id X was not created by this session (argument /id; also name Y at /from)". */
function notCreated(identifiers: NamedIdentifier[], why = ''): string {
  const [first, ...others] = identifiers;
  if (!first) return '';
  const where = (identifier: NamedIdentifier) => (identifier.at === '(anywhere)' ? '' : ` at ${identifier.at}`);
  const also = others.slice(0, 4).map((identifier) => `${identifier.kind} ${identifier.value}${where(identifier)}`);
  if (others.length > 4) also.push(`${others.length - 4} more`);
  const details = [first.at === '(anywhere)' ? '' : `argument ${first.at}`, also.length ? `also ${also.join(', ')}` : ''].filter(Boolean).join('; ');
  return `${first.kind} ${first.value} was not created by this session${why}${details ? ` (${details})` : ''}`;
}

/** Most identifiers one call may name and still be judged. */
export const maxJudgedIdentifiers = 1000;

/** Decides whether a call may reach the upstream, given the calling session's ledger. */
export function checkCall(input: {
  upstream: string;
  tool: SafeModeTool;
  args: Record<string, unknown> | undefined;
  rule: SafeModeToolRule | undefined;
  ledger: OwnershipLedger;
}): SafeModeVerdict {
  const { upstream, ledger } = input;
  const kind = classifyTool(input.tool, input.rule);
  if (kind === 'read' || kind === 'additive') return { outcome: 'allow', kind, touched: [], creates: [] };
  // A GUID a creating call merely mentions (in a title, a note) is not what it acts on; a
  // modifying call is judged by every GUID anywhere, since any may be what it touches. An
  // unannotated tool with no telling name is judged by GUIDs and rules only: most such tools
  // read (`get_weather(city_name)`), and asking on every name would make safe mode unusable.
  const identifiers = identifiersOfCall(input.tool, input.args, input.rule, kind !== 'guarded').filter(
    (identifier) => kind !== 'create' || identifier.at !== '(anywhere)',
  );
  const name = `'${input.tool.name}'`;
  // Each path is looked up against every folder owned on the upstream: a bound keeps a hostile
  // call from costing the hub more than a moment.
  if (identifiers.length > maxJudgedIdentifiers) {
    return { outcome: 'refuse', kind, identifiers: identifiers.slice(0, 5), reason: `Safe mode refused ${name}: it names ${identifiers.length} identifiers, and safe mode judges at most ${maxJudgedIdentifiers} per call` };
  }
  const foreign = identifiers.filter((identifier) => ledger.foreignOwner(upstream, identifier.kind, identifier.value));
  if (foreign.length > 0) {
    return { outcome: 'refuse', kind, identifiers: foreign, reason: `Safe mode refused ${name}: ${notCreated(foreign, ": another session owns it, and a session never acts on another's things")}` };
  }
  // A creating call owns the new things it names; what it refers to must be the session's own.
  const touched = kind === 'create' ? identifiers.filter((identifier) => !identifier.own) : identifiers;
  const creates = kind === 'create' ? identifiers.filter((identifier) => identifier.own) : [];
  const unowned = touched.filter((identifier) => !ledger.owns(upstream, identifier.value, identifier.kind));
  if (unowned.length > 0) return { outcome: 'ask', kind, identifiers: unowned, reason: `Safe mode refused ${name}: ${notCreated(unowned)}` };
  if (kind === 'destructive' && identifiers.length === 0) {
    return { outcome: 'ask', kind, identifiers: [], reason: `Safe mode refused ${name}: it modifies or deletes, and none of its arguments is something this session created` };
  }
  return { outcome: 'allow', kind, touched, creates };
}

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
