import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UpstreamConfig } from '../core/config/config';
import { containersOf, judgeIdentifier, localSpelling, type Spelling } from '../core/sessions/spelling';

/**
 * How safe mode reads one upstream's paths, worked out once per upstream config: the folders a
 * relative path may resolve against (its roots, the folders its command line names, its working
 * directory) and the paths no session may own (those folders, everything that holds them, `/`).
 * An instance's private directory joins the bases per instance.
 */
export type UpstreamSpelling = { spelling: Spelling; unownable: ReadonlySet<string> };

/** Worked out once per upstream config, and once per instance directory of it: every call reads it. */
const byConfig = new WeakMap<UpstreamConfig, { base: UpstreamSpelling; byInstance: Map<string, UpstreamSpelling> }>();

export function upstreamSpelling(config: UpstreamConfig, instanceDir?: string): UpstreamSpelling {
  let known = byConfig.get(config);
  if (!known) byConfig.set(config, (known = { base: spellingOf(config), byInstance: new Map() }));
  const { base, byInstance } = known;
  if (!instanceDir) return base;
  let instance = byInstance.get(instanceDir);
  if (!instance) {
    const spelling = { ...base.spelling, bases: [...base.spelling.bases, instanceDir] };
    instance = { spelling, unownable: new Set([...base.unownable, ...unownableOf([instanceDir], spelling)]) };
    // Bounded by the upstream's instances over time; an instance's directory is not reused.
    if (byInstance.size >= 1_000) byInstance.delete(byInstance.keys().next().value as string);
    byInstance.set(instanceDir, instance);
  }
  return instance;
}

function spellingOf(config: UpstreamConfig): UpstreamSpelling {
  const roots = config.roots.flatMap((root) => {
    try {
      return [fileURLToPath(root)];
    } catch {
      return [];
    }
  });
  const { platform, caseInsensitivePaths } = config.safeMode;
  let spelling: Spelling;
  if (config.type === 'stdio') {
    const cwd = resolve(config.cwd ?? process.cwd());
    // An argument that names a folder (server-filesystem's allowed directories) is where the server resolves relative paths.
    const named = config.args.filter((arg) => !arg.startsWith('-')).map((arg) => resolve(cwd, arg)).filter(isDirectory);
    const local = localSpelling([...new Set([...roots, ...named, cwd])], config.env.HOME ?? homedir());
    spelling = { ...local, ...(platform ? { platform } : {}), ...(caseInsensitivePaths === undefined ? {} : { caseInsensitivePaths }) };
  } else {
    // A remote server's file system is unknown: both separators, and case as configured.
    spelling = { platform: platform ?? 'unknown', caseInsensitivePaths: caseInsensitivePaths ?? false, bases: roots };
  }
  return { spelling, unownable: unownableOf(spelling.bases, spelling) };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The canonical forms of some folders and of everything that holds them. */
function unownableOf(folders: readonly string[], spelling: Spelling): Set<string> {
  const out = new Set<string>(['/']);
  for (const folder of folders) {
    const judged = judgeIdentifier('path', folder, spelling);
    if ('unjudgeable' in judged) continue;
    for (const form of judged.forms) {
      out.add(form.canonical);
      for (const container of containersOf('path', form.canonical)) out.add(container);
    }
  }
  return out;
}
