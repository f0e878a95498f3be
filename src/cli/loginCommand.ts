import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { AdminClient, AdminHttpError, type HubState } from '../client/adminClient';
import { findAdminToken } from './tokenFiles';

export const loginUsage = `  mcp-session-hub login <upstream> [--url URL] [--admin-token T | --admin-token-file F]
                    [--no-browser] [--timeout SECONDS]
                                            sign a running hub in to an OAuth upstream: prints the
                                            URL (and opens it), then waits until the upstream is ready`;

export class LoginUsageError extends Error {}

/** The lines the ready message adds for upstreams waiting for a sign-in. */
export function signInLines(state: Pick<HubState, 'upstreams'>): string[] {
  return state.upstreams
    .filter((upstream) => upstream.state === 'needs-auth')
    .map((upstream) => `  sign in to ${upstream.id}: ${upstream.signIn?.authorizationUrl ?? `mcp-session-hub login ${upstream.id}`}${upstream.signIn ? ` (${upstream.signIn.reason})` : ''}`);
}

/** The upstreams waiting for a sign-in and their URLs, for the `--json` ready line. */
export function signInUrls(state: Pick<HubState, 'upstreams'>): Record<string, string | null> {
  return Object.fromEntries(state.upstreams.filter((u) => u.state === 'needs-auth').map((u) => [u.id, u.signIn?.authorizationUrl ?? null]));
}

type LoginDefaults = { port: number; adminTokenEnvVar: string; adminTokenFile: string };

/**
 * `mcp-session-hub login <upstream>`: asks a running hub (`POST /admin/upstreams/<id>/login`,
 * admin token) for the authorization URL, prints it, opens it where a browser can be opened, and
 * waits until the upstream is ready. Exit 0 when ready, 1 when it timed out or failed.
 */
export async function runLogin(argv: string[], defaults: LoginDefaults, out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      'admin-token': { type: 'string' },
      'admin-token-file': { type: 'string' },
      'no-browser': { type: 'boolean' },
      timeout: { type: 'string' },
    },
    strict: true,
  });
  const upstream = positionals[0];
  if (!upstream || positionals.length > 1) throw new LoginUsageError('login takes one upstream id');
  const timeoutSeconds = values.timeout === undefined ? 300 : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new LoginUsageError(`--timeout must be a number of seconds above 0 (got '${values.timeout}')`);
  const baseUrl = (values.url ?? `http://127.0.0.1:${defaults.port}`).replace(/\/+$/, '');
  const token = adminToken(values['admin-token'], defaults, values['admin-token-file']);
  const client = new AdminClient(baseUrl, token);

  let answer: { authorizationUrl?: string; signedIn?: boolean };
  try {
    answer = await client.login(upstream);
  } catch (error) {
    if (error instanceof AdminHttpError) {
      out(`mcp-session-hub login: ${error.message}\n`);
      return 1;
    }
    throw new Error(`no hub answers at ${baseUrl} (${(error as Error).message}); start it with mcp-session-hub serve, or pass --url`);
  }
  if (answer.signedIn) {
    out(`${upstream}: already signed in\n`);
  } else if (answer.authorizationUrl) {
    out(`Open this URL to sign in to ${upstream}:\n\n  ${answer.authorizationUrl}\n\n`);
    if (!values['no-browser']) openInBrowser(answer.authorizationUrl);
    out('Waiting for the sign-in to finish…\n');
  }
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last: HubState['upstreams'][number] | undefined;
  while (Date.now() < deadline) {
    last = (await client.state()).upstreams.find((u) => u.id === upstream);
    if (last?.state === 'ready') {
      out(`${upstream}: signed in and ready\n`);
      return 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  out(`${upstream}: not ready after ${timeoutSeconds} s (${last ? `${last.state}${last.lastError ? `: ${last.lastError}` : ''}` : 'gone from the hub'})\n`);
  return 1;
}

function adminToken(flag: string | undefined, defaults: LoginDefaults, file: string | undefined): string {
  const path = file ?? defaults.adminTokenFile;
  const token = findAdminToken(flag, defaults.adminTokenEnvVar, path);
  if (token) return token;
  throw new LoginUsageError(`no admin token: pass --admin-token, set $${defaults.adminTokenEnvVar}, or keep it in ${path}`);
}

/** Opens the URL in the user's browser where there is one to open; silent when there is none. */
function openInBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'rundll32' : 'xdg-open';
  const args = process.platform === 'win32' ? ['url.dll,FileProtocolHandler', url] : [url];
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return;
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // No browser here: the printed URL is the way.
  }
}
