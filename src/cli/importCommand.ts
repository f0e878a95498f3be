import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../core/config/config';
import { inputEnvVarName } from '../core/config/configVariables';
import { knownSources, mergeImport, readCandidates, type ImportCandidate, type ImportSource, type ImportSourceKind } from '../core/config/importServers';
import { errorMessage } from '../core/infra/logger';

export const importUsage = `  mcp-session-hub import [import options]   add the servers of VS Code, Claude and Cursor to a hub config`;

export const importOptions = `Import options:
  --from SOURCE        vscode | claude | cursor | a file (repeatable; default: vscode, claude and cursor)
  --config FILE        the hub config to add to (default: a new one)
  --write              write the merged config to --config instead of printing it
  --workspace DIR      the project folder whose .vscode/mcp.json, .mcp.json and .cursor/mcp.json
                       are read too (default: the current directory)
  --into ID            add every imported server to this virtual server (default: one each)`;

const kinds: readonly ImportSourceKind[] = ['vscode', 'claude', 'cursor'];

export class ImportUsageError extends Error {}

/**
 * `mcp-session-hub import`: finds the servers, merges them into the hub config's text (comments
 * kept, nothing imported twice), checks the result as `serve` would, then prints or writes it.
 * What was added and skipped goes to stderr, so stdout is the config alone.
 */
export function runImport(argv: string[], out: (text: string) => void, err: (text: string) => void): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: 'string', multiple: true },
      config: { type: 'string' },
      write: { type: 'boolean' },
      workspace: { type: 'string' },
      into: { type: 'string' },
    },
    strict: true,
  });
  if (values.write && !values.config) throw new ImportUsageError('--write needs --config FILE: the file to write');
  const workspace = resolve(values.workspace ?? process.cwd());
  const where = { home: homedir(), platform: process.platform, appData: process.env.APPDATA, workspaceFolders: [workspace] };
  const sources: ImportSource[] = [];
  for (const from of values.from ?? kinds) {
    if (kinds.includes(from as ImportSourceKind)) {
      sources.push(...knownSources(where, [from as ImportSourceKind]));
      continue;
    }
    const path = resolve(from);
    if (!existsSync(path)) throw new ImportUsageError(`--from ${from}: no such file (sources are vscode, claude, cursor or a file)`);
    sources.push({ kind: 'file', label: path, path });
  }

  const candidates: ImportCandidate[] = [];
  for (const source of sources) {
    if (!existsSync(source.path)) continue;
    try {
      candidates.push(...readCandidates(source, readFileSync(source.path, 'utf8')));
    } catch (error) {
      err(`skipped ${source.label} (${source.path}): ${errorMessage(error)}\n`);
    }
  }

  const hubPath = values.config ? resolve(values.config) : resolve('hub.jsonc');
  const hubText = values.config && existsSync(hubPath) ? readFileSync(hubPath, 'utf8') : '';
  const merged = mergeImport(hubText, hubPath, candidates, { virtualServer: values.into });
  // What serve would refuse is not written: the same check, with no input values yet.
  parseConfig(merged.text, hubPath, { env: process.env, workspaceFolder: workspace });

  for (const added of merged.added) err(`added '${added.id}' from ${added.from} (virtual server '${added.virtualServer}')\n`);
  for (const skipped of merged.skipped) err(`skipped '${skipped.id}' from ${skipped.from}: ${skipped.why}\n`);
  const inputs = new Set(candidates.filter((c) => merged.added.some((a) => a.from === c.source.label)).flatMap((c) => c.inputs.map((input) => String(input.id))));
  for (const id of inputs) err(`input '${id}': give it to serve with --input ${id}=VALUE or ${inputEnvVarName(id)}\n`);
  if (merged.added.length === 0 && merged.skipped.length === 0) err('no servers found\n');

  if (values.write) {
    mkdirSync(dirname(hubPath), { recursive: true });
    writeFileSync(hubPath, merged.text);
    err(`wrote ${hubPath}\n`);
  } else {
    out(merged.text.endsWith('\n') ? merged.text : `${merged.text}\n`);
  }
  return 0;
}
