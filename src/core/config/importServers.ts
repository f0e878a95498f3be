import { dirname, isAbsolute, join, resolve } from 'node:path';
import { applyEdits, modify, parse as parseJsonc, printParseErrorCode, type FormattingOptions, type ParseError } from 'jsonc-parser';
import { validateConfig } from './config';
import { ConfigError } from '../infra/errors';
import { stableStringify } from '../infra/stableJson';

/**
 * Importing the MCP servers a user already has (VS Code, Claude Desktop, Claude Code, Cursor)
 * into the hub config: where each app keeps them, how an entry is carried over so it means the
 * same in the hub's file, and the merge, which edits the hub's JSONC text so its comments stay.
 */

export type ImportSourceKind = 'vscode' | 'claude' | 'cursor' | 'file';

export type ImportSource = {
  kind: ImportSourceKind;
  /** What the user is shown: "VS Code (user)", "Cursor (project /work/app)". */
  label: string;
  path: string;
  /** A project file's folder: its `${workspaceFolder}` is this folder, whatever window the hub serves. */
  workspaceFolder?: string;
  /** ~/.claude.json keeps each project's servers under `projects[folder]`. */
  claudeProject?: string;
};

/** Where to look: the user's home, the platform's app-data folder, the open workspace folders. */
export type Whereabouts = {
  home: string;
  platform: NodeJS.Platform;
  /** Windows' %APPDATA%. */
  appData?: string;
  workspaceFolders: readonly string[];
  /** VS Code's own `User` folder when known (the extension knows it); else the usual places are tried. */
  vscodeUserDir?: string;
};

/** The folder apps keep per-user settings in, per platform. */
function appConfigDir(where: Whereabouts): string {
  if (where.platform === 'darwin') return join(where.home, 'Library', 'Application Support');
  if (where.platform === 'win32') return where.appData ?? join(where.home, 'AppData', 'Roaming');
  return join(where.home, '.config');
}

/** Every place the named apps keep MCP servers, whether or not a file is there. */
export function knownSources(where: Whereabouts, kinds: readonly ImportSourceKind[] = ['vscode', 'claude', 'cursor']): ImportSource[] {
  const sources: ImportSource[] = [];
  const config = appConfigDir(where);
  if (kinds.includes('vscode')) {
    const userDirs = where.vscodeUserDir
      ? [where.vscodeUserDir]
      : [join(config, 'Code', 'User'), join(config, 'Code - Insiders', 'User'), join(config, 'VSCodium', 'User'), join(where.home, '.local', 'share', 'code-server', 'User')];
    for (const dir of userDirs) sources.push({ kind: 'vscode', label: 'VS Code (user)', path: join(dir, 'mcp.json') });
    for (const folder of where.workspaceFolders) {
      sources.push({ kind: 'vscode', label: `VS Code (workspace ${folder})`, path: join(folder, '.vscode', 'mcp.json'), workspaceFolder: folder });
    }
  }
  if (kinds.includes('claude')) {
    sources.push({ kind: 'claude', label: 'Claude Desktop', path: join(config, 'Claude', 'claude_desktop_config.json') });
    const claudeCode = join(where.home, '.claude.json');
    sources.push({ kind: 'claude', label: 'Claude Code (user)', path: claudeCode });
    for (const folder of where.workspaceFolders) {
      sources.push({ kind: 'claude', label: `Claude Code (project ${folder})`, path: claudeCode, workspaceFolder: folder, claudeProject: folder });
      sources.push({ kind: 'claude', label: `Claude Code (.mcp.json in ${folder})`, path: join(folder, '.mcp.json'), workspaceFolder: folder });
    }
  }
  if (kinds.includes('cursor')) {
    sources.push({ kind: 'cursor', label: 'Cursor (user)', path: join(where.home, '.cursor', 'mcp.json') });
    for (const folder of where.workspaceFolders) {
      sources.push({ kind: 'cursor', label: `Cursor (project ${folder})`, path: join(folder, '.cursor', 'mcp.json'), workspaceFolder: folder });
    }
  }
  return sources;
}

/** One server found in a source, as it will be written into the hub config. */
export type ImportCandidate = {
  id: string;
  entry: Record<string, unknown>;
  /** The declarations of the inputs the entry uses (VS Code's `inputs`), to be carried over with it. */
  inputs: Record<string, unknown>[];
  source: ImportSource;
};

type JsonObject = Record<string, unknown>;
const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

function parseText(text: string, path: string): unknown {
  const errors: ParseError[] = [];
  const value: unknown = parseJsonc(text, errors, { allowTrailingComma: true });
  if (errors.length > 0) throw new ConfigError(path, errors.map((e) => ({ path: `offset ${e.offset}`, message: `JSON syntax: ${printParseErrorCode(e.error)}` })));
  return value;
}

/** Maps every string in a JSON value. */
function mapStrings(value: unknown, map: (text: string) => string): unknown {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, map));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, mapStrings(inner, map)]));
  return value;
}

/**
 * The servers of one source's text. An entry is carried over so it means in the hub's file what
 * it meant in its own: a project file's `${workspaceFolder}` becomes that folder, a relative
 * `envFile` becomes absolute (it was relative to the source file), and a stdio server runs in the
 * folder it ran in (see `withLaunchFolder`).
 */
export function readCandidates(source: ImportSource, text: string): ImportCandidate[] {
  const raw = parseText(text, source.path);
  if (!isObject(raw)) return [];
  const projects = isObject(raw.projects) ? raw.projects : {};
  const sections = source.claudeProject ? [isObject(projects[source.claudeProject]) ? (projects[source.claudeProject] as JsonObject).mcpServers : undefined] : [raw.servers, raw.mcpServers];
  const declared = new Map<string, JsonObject>();
  if (Array.isArray(raw.inputs)) for (const input of raw.inputs) if (isObject(input) && typeof input.id === 'string') declared.set(input.id, input);
  const candidates: ImportCandidate[] = [];
  for (const section of sections) {
    if (!isObject(section)) continue;
    for (const [id, value] of Object.entries(section)) {
      if (!isObject(value)) continue;
      const folder = source.workspaceFolder;
      let entry = (folder ? mapStrings(value, (text) => text.replaceAll('${workspaceFolder}', folder)) : value) as JsonObject;
      if (typeof entry.envFile === 'string' && !entry.envFile.startsWith('${') && !isAbsolute(entry.envFile)) {
        entry = { ...entry, envFile: resolve(dirname(source.path), entry.envFile) };
      }
      entry = withLaunchFolder(entry, folder ?? dirname(source.path));
      if (isObject(entry.oauth)) entry = { ...entry, oauth: knownOAuthFields(entry.oauth) };
      const used = new Set([...JSON.stringify(entry).matchAll(/\$\{input:([^}]+)\}/g)].map((match) => match[1]));
      const inputs = [...used].flatMap((inputId) => (declared.has(inputId) ? [declared.get(inputId)!] : []));
      candidates.push({ id, entry, inputs, source });
    }
  }
  return candidates;
}

/**
 * A stdio entry runs where its app ran it, not in the hub's working folder: a relative
 * `args: ["server.js"]` or `command: "./bin/server"` means the project's folder (a project file's
 * workspace), or the source file's own folder. So `cwd` is set to it (a relative `cwd` is resolved
 * against it); an entry whose `cwd` is absolute or a variable keeps it.
 */
function withLaunchFolder(entry: JsonObject, folder: string): JsonObject {
  if (typeof entry.command !== 'string' || typeof entry.url === 'string') return entry;
  const cwd = entry.cwd;
  if (cwd === undefined) return { ...entry, cwd: folder };
  if (typeof cwd === 'string' && !cwd.startsWith('${') && !isAbsolute(cwd)) return { ...entry, cwd: resolve(folder, cwd) };
  return entry;
}

/** The `oauth` fields the hub reads (Claude writes `clientId` and `callbackPort`); others are left behind, not a reason to refuse the server. */
const oauthFields = ['clientId', 'clientSecret', 'tokenEndpointAuthMethod', 'clientMetadataUrl', 'scopes', 'callbackPort'];

function knownOAuthFields(oauth: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(oauth).filter(([key]) => oauthFields.includes(key)));
}

/** Why the loader would refuse this entry (an unsupported variable, say), or undefined: one bad entry does not sink an import. */
function refusal(candidate: ImportCandidate, knownInputs: readonly JsonObject[]): string | undefined {
  const ids = new Set(candidate.inputs.map((input) => input.id));
  const inputs = [...candidate.inputs, ...knownInputs.filter((input) => !ids.has(input.id))];
  try {
    validateConfig({ inputs, servers: { [candidate.id]: candidate.entry } }, candidate.source.path);
    return undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
  }
}

/** What a server is, whatever it is called: its launch (command and args) or its URL. */
function identityOf(entry: unknown): string {
  if (!isObject(entry)) return '';
  return typeof entry.url === 'string' ? stableStringify({ url: entry.url }) : stableStringify({ command: entry.command, args: entry.args ?? [] });
}

export type ImportResult = {
  /** The hub config text with the imported servers, its comments and formatting kept. */
  text: string;
  added: { id: string; from: string; virtualServer?: string }[];
  skipped: { id: string; from: string; why: string }[];
};

const formattingOptions: FormattingOptions = { insertSpaces: true, tabSize: 2, eol: '\n' };

function edit(text: string, path: (string | number)[], value: unknown, isArrayInsertion = false): string {
  return applyEdits(text, modify(text, path, value, { formattingOptions, isArrayInsertion }));
}

/** A virtual server id (1-32 of `[A-Za-z0-9_-]`) for an upstream id, not yet taken. */
function virtualServerIdFor(upstream: string, taken: Set<string>): string {
  const base = upstream.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 29) || 'server';
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  return id;
}

/**
 * Adds the candidates to the hub config's text. A server already in it (the same launch or URL,
 * under any id) is skipped, so importing twice adds nothing; an id taken by another server gets
 * a suffix. Each added server gets a virtual server of its own, or joins `virtualServer` if given.
 */
export function mergeImport(hubText: string, hubPath: string, candidates: readonly ImportCandidate[], options: { virtualServer?: string } = {}): ImportResult {
  let text = hubText.trim() === '' ? '{}\n' : hubText;
  const hub = parseText(text, hubPath);
  if (!isObject(hub)) throw new ConfigError(hubPath, [{ path: '', message: 'must be a JSON object' }]);
  const section = !isObject(hub.servers) && isObject(hub.mcpServers) ? 'mcpServers' : 'servers';
  const existing = new Map<string, string>(); // identity → id
  const ids = new Set<string>();
  for (const key of ['servers', 'mcpServers']) {
    const entries = hub[key];
    if (!isObject(entries)) continue;
    for (const [id, entry] of Object.entries(entries)) {
      ids.add(id);
      existing.set(identityOf(entry), id);
    }
  }
  /** The hub's input declarations, and those the imports bring: an entry may use any of them. */
  const knownInputs = Array.isArray(hub.inputs) ? hub.inputs.filter((input): input is JsonObject => isObject(input) && typeof input.id === 'string') : [];
  const inputIds = new Set(knownInputs.map((input) => input.id as string));
  const virtualServers = isObject(hub.virtualServers) ? hub.virtualServers : {};
  const virtualIds = new Set(Object.keys(virtualServers));
  let hasInputs = Array.isArray(hub.inputs);
  const result: ImportResult = { text, added: [], skipped: [] };
  const joined: string[] = [];

  for (const candidate of candidates) {
    const from = candidate.source.label;
    const same = existing.get(identityOf(candidate.entry));
    if (same !== undefined) {
      result.skipped.push({ id: candidate.id, from, why: `already in the hub config as '${same}'` });
      continue;
    }
    const refused = refusal(candidate, knownInputs);
    if (refused) {
      result.skipped.push({ id: candidate.id, from, why: refused });
      continue;
    }
    let id = candidate.id;
    for (let n = 2; ids.has(id); n++) id = `${candidate.id}-${n}`;
    ids.add(id);
    existing.set(identityOf(candidate.entry), id);
    text = edit(text, [section, id], candidate.entry);
    for (const input of candidate.inputs) {
      const inputId = input.id as string;
      if (inputIds.has(inputId)) continue;
      inputIds.add(inputId);
      knownInputs.push(input);
      text = hasInputs ? edit(text, ['inputs', -1], input, true) : edit(text, ['inputs'], [input]);
      hasInputs = true;
    }
    if (options.virtualServer) {
      joined.push(id);
      result.added.push({ id, from, virtualServer: options.virtualServer });
    } else {
      const virtualId = virtualServerIdFor(id, virtualIds);
      virtualIds.add(virtualId);
      text = edit(text, ['virtualServers', virtualId], { upstreams: [id] });
      result.added.push({ id, from, virtualServer: virtualId });
    }
  }
  if (options.virtualServer && joined.length > 0) {
    const target = virtualServers[options.virtualServer];
    const current = isObject(target) && Array.isArray(target.upstreams) ? (target.upstreams as unknown[]) : undefined;
    if (current) for (const id of joined) text = edit(text, ['virtualServers', options.virtualServer, 'upstreams', -1], id, true);
    else text = edit(text, ['virtualServers', options.virtualServer], { upstreams: joined });
  }
  result.text = text;
  return result;
}
