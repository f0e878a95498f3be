import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

export type Launch = { command: string; args: string[]; env: Record<string, string>; cwd?: string; resolvedFrom?: string };

/** npx flags that take no value; anything else before the package is not understood, so npx stays. */
const npxSwitches = new Set(['-y', '--yes', '--no-install', '-q', '--quiet', '--prefer-offline']);

/**
 * How to start a stdio upstream. `npx pkg args` costs 2-3x the start-up of running the package's
 * bin with node (npx resolves, checks the registry, spawns a shell), which every per-session
 * instance would pay: when `pkg` is installed where the hub can see it, at the version asked for
 * (or no version, or `latest`), it starts with `node <bin>` directly. Node children also get a
 * compile cache (`NODE_COMPILE_CACHE`, Node 22.1+; older Node ignores it).
 */
export function resolveLaunch(spec: { command: string; args: string[]; env: Record<string, string>; cwd?: string }, searchFrom: string[] = [process.cwd()]): Launch {
  const direct = resolveNpx(spec, searchFrom);
  const launch: Launch = direct ?? { ...spec };
  if (isNode(launch.command) && launch.env.NODE_COMPILE_CACHE === undefined && process.env.NODE_COMPILE_CACHE === undefined) {
    launch.env = { ...launch.env, NODE_COMPILE_CACHE: join(tmpdir(), 'mcp-session-hub-compile-cache') };
  }
  return launch;
}

function isNode(command: string): boolean {
  return /^node(\.exe)?$/.test(basename(command)) || command === process.execPath;
}

function resolveNpx(spec: { command: string; args: string[]; env: Record<string, string>; cwd?: string }, searchFrom: string[]): Launch | undefined {
  if (!/^npx(\.cmd)?$/.test(basename(spec.command))) return undefined;
  let index = 0;
  while (index < spec.args.length && spec.args[index].startsWith('-')) {
    if (spec.args[index] === '--') {
      index++;
      break;
    }
    if (!npxSwitches.has(spec.args[index])) return undefined;
    index++;
  }
  const packageSpec = spec.args[index];
  if (!packageSpec) return undefined;
  const { name, version } = splitPackageSpec(packageSpec);
  const bin = findInstalledBin(name, version, [...(spec.cwd ? [spec.cwd] : []), ...searchFrom]);
  if (!bin) return undefined;
  return { command: 'node', args: [bin, ...spec.args.slice(index + 1)], env: spec.env, cwd: spec.cwd, resolvedFrom: `npx ${packageSpec}` };
}

function splitPackageSpec(spec: string): { name: string; version?: string } {
  const at = spec.indexOf('@', spec.startsWith('@') ? 1 : 0);
  return at < 0 ? { name: spec } : { name: spec.slice(0, at), version: spec.slice(at + 1) };
}

type PackageManifest = { name: string; version: string; bin?: string | Record<string, string> };

function findInstalledBin(name: string, version: string | undefined, searchFrom: string[]): string | undefined {
  let manifestPath: string;
  try {
    manifestPath = require.resolve(`${name}/package.json`, { paths: searchFrom });
  } catch {
    return undefined;
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PackageManifest;
  // A pinned version other than the installed one is what the user asked npx to fetch.
  if (version !== undefined && version !== 'latest' && version !== manifest.version) return undefined;
  const unscoped = name.split('/').pop() ?? name;
  const relative = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[unscoped] ?? (manifest.bin && Object.keys(manifest.bin).length === 1 ? Object.values(manifest.bin)[0] : undefined);
  if (!relative) return undefined;
  const bin = join(dirname(manifestPath), relative);
  return existsSync(bin) ? bin : undefined;
}
