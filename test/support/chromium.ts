import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const chromiumPath = '/usr/bin/chromium';

/**
 * Debian's Chromium, for the browser tests (Playwright's own download is not reachable here).
 * On a fresh Debian machine where the tests run as root it is installed with apt; elsewhere the
 * caller skips with the reason this returns.
 */
export function ensureChromium(): { ok: true } | { ok: false; why: string } {
  if (existsSync(chromiumPath)) return { ok: true };
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) return { ok: false, why: `${chromiumPath} is missing and this is not a Debian machine` };
  if (process.getuid?.() !== 0) return { ok: false, why: `${chromiumPath} is missing; install it with: sudo apt-get install chromium` };
  try {
    aptInstall(['chromium']);
  } catch (error) {
    return { ok: false, why: (error as Error).message };
  }
  return existsSync(chromiumPath) ? { ok: true } : { ok: false, why: 'apt-get installed chromium but it is not at /usr/bin/chromium' };
}

/** Installs Debian packages (as root), package lists first: a fresh machine has none. */
export function aptInstall(packages: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 300_000 });
    execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'ignore', env, timeout: 600_000 });
  } catch (error) {
    throw new Error(`apt-get install ${packages.join(' ')} failed: ${(error as Error).message}`);
  }
}
