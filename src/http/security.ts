import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { RpcErrorCode } from '../core/infra/errors';
import { EdgeRefusal } from './edge';

const loopbackHostnames = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** A host name or address that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return loopbackHostnames.has(host.toLowerCase());
}

function hostnameOf(hostHeader: string): string | undefined {
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return undefined;
  }
}

export type EdgeGuardOptions = {
  /** The client token: MCP endpoints take it, `/admin/*` refuses it. */
  clientToken: string;
  /** The admin token: `/admin/*` takes it, MCP endpoints refuse it. Must differ from `clientToken`. */
  adminToken: string;
  /** Host names accepted besides loopback ones (the host the hub was bound to). */
  extraHostnames?: readonly string[];
  /** Browser origins accepted besides loopback ones. */
  allowedOrigins?: readonly string[];
};

function digest(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}

/** Throws unless both tokens are given and differ: one token for both would give MCP clients the admin API. */
export function assertDistinctTokens(clientToken: string, adminToken: string): void {
  if (!clientToken || !adminToken) throw new Error('the client token and the admin token must not be empty');
  if (clientToken === adminToken) throw new Error('the admin token must differ from the client token');
}

/** Which of the hub's two tokens a request carried. */
export type Credential = 'client' | 'admin';

const wrongCredential: Record<Credential, string> = {
  admin: 'Forbidden: the admin API needs the admin token; this is the MCP client token',
  client: 'Forbidden: MCP endpoints need the client token; this is the admin token',
};

/**
 * The edge's checks of who is calling, each throwing the `EdgeRefusal` to answer. Every request
 * passes `checkCaller`; every one but `/healthz` passes `checkCredential` too.
 */
export class EdgeGuard {
  private readonly hostnames: ReadonlySet<string>;
  private readonly origins: ReadonlySet<string>;
  private readonly expected: Readonly<Record<Credential, Buffer>>;
  /** The Host header last accepted: a client sends the same one on every request, parsed once. */
  private acceptedHost?: string;
  /**
   * The Authorization header each kept-alive socket last proved a token with, and which token.
   * Comparing a later header on that socket with it in plain `===` tells nothing to anyone but
   * the client that sent the token on it; it spares a hash per request.
   */
  private readonly provenOn = new WeakMap<Socket, { header: string; credential: Credential }>();

  constructor(options: EdgeGuardOptions) {
    assertDistinctTokens(options.clientToken, options.adminToken); // throws before the hub listens
    this.hostnames = new Set([...loopbackHostnames, ...(options.extraHostnames ?? []).map((h) => h.toLowerCase())]);
    this.origins = new Set((options.allowedOrigins ?? []).map((o) => o.toLowerCase()));
    this.expected = { client: digest(options.clientToken), admin: digest(options.adminToken) };
  }

  /**
   * DNS-rebinding protection: a page on evil.example that resolves to 127.0.0.1 sends
   * `Host: evil.example`, so only loopback names (and the bound host) are accepted. The MCP spec
   * also requires a bad Origin to get 403: requests without one (non-browser clients) pass;
   * browser origins must be loopback or listed with --allow-origin.
   */
  checkCaller(req: IncomingMessage): void {
    const host = req.headers.host;
    if (host === undefined || host !== this.acceptedHost) {
      const hostname = host ? hostnameOf(host)?.toLowerCase() : undefined;
      if (!hostname || !this.hostnames.has(hostname)) {
        throw new EdgeRefusal(403, RpcErrorCode.Refused, `Forbidden: Host '${host ?? ''}' is not allowed (the hub answers loopback names only)`);
      }
      this.acceptedHost = host;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.isAllowedOrigin(origin)) throw new EdgeRefusal(403, RpcErrorCode.Refused, `Forbidden: Origin '${origin}' is not allowed`);
  }

  private isAllowedOrigin(origin: string): boolean {
    if (this.origins.has(origin.toLowerCase())) return true;
    try {
      const url = new URL(origin);
      return (url.protocol === 'http:' || url.protocol === 'https:') && loopbackHostnames.has(url.hostname);
    } catch {
      return false;
    }
  }

  /**
   * Every MCP and admin request carries `Authorization: Bearer <token>`, compared in constant time
   * with both tokens: anything else is 401. Then the token must be the one `wanted` (the admin
   * token for `/admin/*`, the client token elsewhere), or it is 403: the MCP client token on the
   * admin API is refused, so an agent talked into an HTTP call cannot switch safe mode off, read
   * other sessions' owned ids or end sessions; the admin token is refused on MCP endpoints.
   */
  checkCredential(req: IncomingMessage, wanted: Credential): void {
    const header = req.headers.authorization ?? '';
    const proven = this.provenOn.get(req.socket);
    const credential = proven?.header === header ? proven.credential : this.credentialOf(header, req.socket);
    if (credential !== wanted) throw new EdgeRefusal(403, RpcErrorCode.Refused, wrongCredential[wanted]);
  }

  private credentialOf(header: string, socket: Socket): Credential {
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const presented = digest(match ? match[1].trim() : '');
    const isClient = timingSafeEqual(presented, this.expected.client);
    const isAdmin = timingSafeEqual(presented, this.expected.admin);
    if (!match || (!isClient && !isAdmin)) {
      const why = match ? 'wrong bearer token' : 'no bearer token';
      const description = `${why}: send Authorization: Bearer <token> with the hub's client token (MCP endpoints) or admin token (/admin); this hub offers no OAuth`;
      // error="invalid_token" (RFC 6750 §3.1) even with no token at all, which the RFC would leave
      // bare: a bare challenge tells an OAuth-aware client to go and sign in, and there is nowhere to.
      throw new EdgeRefusal(401, RpcErrorCode.Refused, `Unauthorized: ${description}`, {
        'www-authenticate': `Bearer realm="mcp-session-hub", error="invalid_token", error_description="${description}"`,
      }, { error: 'invalid_token', error_description: description });
    }
    const credential = isAdmin ? 'admin' : 'client';
    this.provenOn.set(socket, { header, credential });
    return credential;
  }
}
