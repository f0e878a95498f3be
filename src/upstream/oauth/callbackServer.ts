import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, type Logger } from '../../core/infra/logger';

/** What the redirect brought back for one sign-in attempt. */
export type CallbackResult = { code: string } | { error: string; description?: string };

/** One sign-in attempt waiting for its redirect. */
type Attempt = {
  upstream: string;
  expiresAt: number;
  /** Exchanges the code; resolves with what the browser page says, rejects with why it failed. */
  finish(result: CallbackResult): Promise<string>;
};

/** A sign-in the user has not finished in this time is forgotten: its URL no longer works. */
const attemptLifetimeMs = 15 * 60_000;
/** Attempts kept at once, all upstreams together; past it the oldest is forgotten. */
const maxAttempts = 64;
const callbackPath = '/oauth/callback';

/**
 * The hub's OAuth redirect endpoint: `http://127.0.0.1:PORT/oauth/callback`, on its own loopback
 * listener so it works before the hub's HTTP edge listens and does not change when the edge's port
 * does. Each attempt's `state` is 32 random bytes only this process knows, used once: an unknown,
 * expired or replayed `state` is refused, and the code it came with is not used.
 */
export class OAuthCallbackServer {
  private server?: Server;
  private listening?: Promise<string>;
  private readonly attempts = new Map<string, Attempt>();

  constructor(
    private readonly logger: Logger,
    /** The port to listen on: the one the last run used (registrations name it), else any free one. */
    private readonly preferredPort: () => Promise<number | undefined>,
    private readonly rememberPort: (port: number) => Promise<void>,
  ) {}

  /** The redirect URL, listening first if need be. `port` asks for a fixed port (an upstream's `oauth.callbackPort`). */
  start(port?: number): Promise<string> {
    if (port !== undefined) return this.startFixed(port);
    this.listening ??= this.listen().catch((error: unknown) => {
      this.listening = undefined;
      throw error;
    });
    return this.listening;
  }

  private readonly fixed = new Map<number, Promise<string>>();

  private startFixed(port: number): Promise<string> {
    let started = this.fixed.get(port);
    if (!started) {
      started = listenOn(port, (req, res) => void this.handle(req, res)).then(({ server }) => {
        this.extraServers.push(server);
        return `http://127.0.0.1:${port}${callbackPath}`;
      });
      started.catch(() => this.fixed.delete(port));
      this.fixed.set(port, started);
    }
    return started;
  }

  private readonly extraServers: Server[] = [];

  private async listen(): Promise<string> {
    const preferred = await this.preferredPort().catch(() => undefined);
    let listening: { server: Server; port: number };
    try {
      listening = await listenOn(preferred ?? 0, (req, res) => void this.handle(req, res));
    } catch (error) {
      if (!preferred) throw error;
      this.logger.info(`sign-in redirect port ${preferred} is taken (${errorMessage(error)}); using another`);
      listening = await listenOn(0, (req, res) => void this.handle(req, res));
    }
    this.server = listening.server;
    if (listening.port !== preferred) await this.rememberPort(listening.port).catch((error: unknown) => this.logger.warn(`could not remember the sign-in port: ${errorMessage(error)}`));
    return `http://127.0.0.1:${listening.port}${callbackPath}`;
  }

  /** A new attempt for `upstream`: its `state`, good once, for a limited time. */
  newAttempt(upstream: string, finish: Attempt['finish']): string {
    const now = Date.now();
    for (const [state, attempt] of this.attempts) if (attempt.expiresAt <= now) this.attempts.delete(state);
    while (this.attempts.size >= maxAttempts) this.attempts.delete(this.attempts.keys().next().value as string);
    const state = randomBytes(32).toString('base64url');
    this.attempts.set(state, { upstream, expiresAt: now + attemptLifetimeMs, finish });
    return state;
  }

  /** Forgets every attempt of `upstream` (it signed in another way, or signed out). */
  forgetAttempts(upstream: string): void {
    for (const [state, attempt] of this.attempts) if (attempt.upstream === upstream) this.attempts.delete(state);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (!['127.0.0.1', 'localhost'].includes(host)) return page(res, 403, 'Refused', 'This address answers loopback requests only.');
    if (req.method !== 'GET' || url.pathname !== callbackPath) return page(res, 404, 'Not found', 'This is the MCP Session Hub sign-in redirect.');
    const state = url.searchParams.get('state') ?? '';
    const attempt = this.attempts.get(state);
    if (!attempt || attempt.expiresAt <= Date.now()) {
      this.attempts.delete(state);
      this.logger.warn('sign-in redirect refused: its state is unknown, expired or already used');
      return page(res, 400, 'Sign-in refused', 'This sign-in link is unknown, expired or was already used. Start the sign-in again from the hub.');
    }
    this.attempts.delete(state); // once only, whatever happens next
    const code = url.searchParams.get('code');
    const error = url.searchParams.get('error');
    const result: CallbackResult = code ? { code } : { error: error ?? 'no code in the redirect', description: url.searchParams.get('error_description') ?? undefined };
    try {
      const message = await attempt.finish(result);
      page(res, 200, 'Signed in', message);
    } catch (failure) {
      page(res, 400, 'Sign-in failed', errorMessage(failure));
    }
  }

  async close(): Promise<void> {
    this.attempts.clear();
    const servers = [...(this.server ? [this.server] : []), ...this.extraServers];
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const server of servers) server.closeAllConnections();
  }
}

function listenOn(port: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      server.unref();
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: ServerResponse, status: number, title: string, message: string): void {
  const body = `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'", 'referrer-policy': 'no-referrer' }).end(body);
}
