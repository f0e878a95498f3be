import { applyEdits, findNodeAtLocation, modify, parse as parseJsonc, parseTree, type Edit, type FormattingOptions } from 'jsonc-parser';
import { globToRegExp } from '../scoping/glob';

/**
 * Edits of the hub config's text made from the UI (the tree's checkboxes, the virtual server
 * commands). Each is a jsonc-parser edit of the text, so the user's comments and formatting stay;
 * the file watcher then reloads the config as after any save.
 */

const formattingOptions: FormattingOptions = { insertSpaces: true, tabSize: 2, eol: '\n' };
type JsonPath = (string | number)[];

function edit(text: string, path: JsonPath, value: unknown, isArrayInsertion = false): string {
  return applyEdits(text, modify(text, path, value, { formattingOptions, isArrayInsertion }));
}

function valueAt(text: string, path: JsonPath): unknown {
  const root = parseTree(text, [], { allowTrailingComma: true });
  const node = root && findNodeAtLocation(root, path);
  return node ? (parseJsonc(text.slice(node.offset, node.offset + node.length)) as unknown) : undefined;
}

/** Thrown when an edit cannot say what the user asked; the message says what to change by hand. */
export class ConfigEditError extends Error {}

/**
 * Shows or hides one tool of a virtual server. Hiding adds `upstream/name` to the selection's
 * `exclude`; showing removes it from there, or adds it to `include` when the include globs miss it.
 * A tool hidden by a broader exclude glob cannot be shown this way: the error names the glob.
 */
export function setToolSelected(text: string, virtualServer: string, upstream: string, name: string, selected: boolean): string {
  const base = ['virtualServers', virtualServer];
  if (valueAt(text, base) === undefined) throw new ConfigEditError(`no virtual server '${virtualServer}' in the config`);
  const path = [...base, 'tools'];
  const item = `${upstream}/${name}`;
  const current = valueAt(text, path);
  // The array shorthand becomes the object form, so an exclude has somewhere to go.
  const selection = Array.isArray(current) ? { include: current as string[] } : ((current ?? {}) as { include?: string[]; exclude?: string[] });
  if (Array.isArray(current)) text = edit(text, path, selection);
  const include = selection.include ?? ['*'];
  const exclude = selection.exclude ?? [];
  const matches = (patterns: string[]) => patterns.filter((pattern) => globToRegExp(pattern).test(item));

  if (!selected) {
    if (matches(include).length === 0 || matches(exclude).length > 0) return text;
    return selection.exclude ? edit(text, [...path, 'exclude', -1], item, true) : edit(text, [...path, 'exclude'], [item]);
  }
  const exact = exclude.indexOf(item);
  if (exact >= 0) text = edit(text, [...path, 'exclude', exact], undefined);
  const broader = matches(exclude).filter((pattern) => pattern !== item);
  if (broader.length > 0) throw new ConfigEditError(`'${item}' is excluded by ${broader.map((p) => `'${p}'`).join(', ')} in virtualServers.${virtualServer}.tools.exclude; change that pattern in the config`);
  // An absent include is everything, so only a written one can miss the tool.
  if (matches(include).length === 0) text = edit(text, [...path, 'include', -1], item, true);
  return text;
}

export function addVirtualServer(text: string, id: string, upstreams: string[]): string {
  if (valueAt(text, ['virtualServers', id]) !== undefined) throw new ConfigEditError(`a virtual server '${id}' already exists`);
  return edit(text.trim() === '' ? '{}\n' : text, ['virtualServers', id], { upstreams });
}

/** Renames by rewriting the key alone, so the entry's own comments and layout stay as they are. */
export function renameVirtualServer(text: string, from: string, to: string): string {
  if (valueAt(text, ['virtualServers', to]) !== undefined) throw new ConfigEditError(`a virtual server '${to}' already exists`);
  const root = parseTree(text, [], { allowTrailingComma: true });
  const key = root && findNodeAtLocation(root, ['virtualServers', from])?.parent?.children?.[0];
  if (!key) throw new ConfigEditError(`no virtual server '${from}' in the config`);
  const rename: Edit = { offset: key.offset, length: key.length, content: JSON.stringify(to) };
  return applyEdits(text, [rename]);
}

export function deleteVirtualServer(text: string, id: string): string {
  if (valueAt(text, ['virtualServers', id]) === undefined) throw new ConfigEditError(`no virtual server '${id}' in the config`);
  return edit(text, ['virtualServers', id], undefined);
}
