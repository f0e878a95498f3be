import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** The folder the CLI keeps its token files in unless told otherwise: the hub's alone, so kept at 0700. */
export const defaultTokenFolder = join(homedir(), '.mcp-session-hub');

/** A token file (or the hub's folder of them) the hub will not use: another user owns it. */
export class TokenFileError extends Error {}

/**
 * A token: given, from the environment, or kept in a file only the user can read (created on
 * first run). An existing file, and the hub's own folder, are put back to 0600 / 0700 when they
 * are looser (`warn` says so), and refused when another user owns them: whoever owns the file
 * chose the token. A folder given with `--token-file` is the user's choice (it may be shared,
 * such as /tmp) and is left as it is.
 */
export function resolveToken(
  flag: string | undefined,
  envVar: string,
  tokenFile: string,
  warn: (message: string) => void,
): { token: string; tokenFile?: string } {
  if (flag) return { token: flag };
  const fromEnv = process.env[envVar];
  if (fromEnv) return { token: fromEnv };
  const folder = dirname(tokenFile);
  if (folder === defaultTokenFolder && existsSync(folder)) keepPrivate(folder, 0o700, 'token folder', warn);
  if (existsSync(tokenFile)) {
    keepPrivate(tokenFile, 0o600, 'token file', warn);
    const saved = readFileSync(tokenFile, 'utf8').trim();
    if (saved) return { token: saved, tokenFile };
  }
  const token = randomBytes(32).toString('base64url');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  chmodSync(tokenFile, 0o600);
  return { token, tokenFile };
}

function keepPrivate(path: string, mode: number, what: string, warn: (message: string) => void): void {
  const uid = process.getuid?.();
  if (uid === undefined || process.platform === 'win32') return; // no POSIX owners or modes to check
  const stat = statSync(path);
  if (stat.uid !== uid) {
    throw new TokenFileError(`${what} ${path} is owned by uid ${stat.uid}, not by this user (uid ${uid}): refusing to use it. Remove it, or give the token with --token-file elsewhere or by environment`);
  }
  const actual = stat.mode & 0o777;
  if ((actual & ~mode) === 0) return;
  chmodSync(path, mode);
  warn(`${what} ${path} was open to other users (mode ${octal(actual)}); now ${octal(mode)}`);
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}

/**
 * The admin token a command that talks to a running hub uses: the flag, else the environment
 * variable, else the admin token file. Undefined when none has one; the command says what to do.
 */
export function findAdminToken(flag: string | undefined, envVar: string, file: string): string | undefined {
  if (flag) return flag;
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8').trim() || undefined;
}
