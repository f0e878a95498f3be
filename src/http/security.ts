import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { RpcErrorCode } from '../core/errors';

const loopbackHostnames = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** A host name or address that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return loopbackHostnames.has(host.toLowerCase());
}

/**
 * The HTTP edge's one way to refuse: a JSON-RPC-shaped error body with a fitting status, as MCP
 * clients expect even for HTTP-level failures. The code is one of the hub's (`RpcErrorCode`).
 */
export function sendJsonRpcError(res: Response, status: number, code: RpcErrorCode, message: string): void {
  if (res.headersSent) return;
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

function hostnameOf(hostHeader: string): string | undefined {
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * DNS-rebinding protection: a page on evil.example that resolves to 127.0.0.1 sends
 * `Host: evil.example`. Only loopback names (and the explicitly bound host) are accepted.
 */
export function hostValidation(extraHostnames: readonly string[] = []) {
  const allowed = new Set([...loopbackHostnames, ...extraHostnames.map((h) => h.toLowerCase())]);
  return (req: Request, res: Response, next: NextFunction) => {
    const hostname = req.headers.host ? hostnameOf(req.headers.host)?.toLowerCase() : undefined;
    if (!hostname || !allowed.has(hostname)) {
      sendJsonRpcError(res, 403, RpcErrorCode.Refused, `Forbidden: Host '${req.headers.host ?? ''}' is not allowed (the hub answers loopback names only)`);
      return;
    }
    next();
  };
}

/**
 * The MCP spec requires servers to reject a bad Origin with 403 (the SDK's express helper checks
 * Host only). Requests without Origin (non-browser clients) pass; browser origins must be loopback
 * or listed with --allow-origin.
 */
export function originValidation(extraOrigins: readonly string[] = []) {
  const allowedOrigins = new Set(extraOrigins.map((o) => o.toLowerCase()));
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined) return next();
    let ok = allowedOrigins.has(origin.toLowerCase());
    if (!ok) {
      try {
        const url = new URL(origin);
        ok = (url.protocol === 'http:' || url.protocol === 'https:') && loopbackHostnames.has(url.hostname);
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      sendJsonRpcError(res, 403, RpcErrorCode.Refused, `Forbidden: Origin '${origin}' is not allowed`);
      return;
    }
    next();
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Throws unless both tokens are given and differ: one token for both would give MCP clients the admin API. */
export function assertDistinctTokens(clientToken: string, adminToken: string): void {
  if (!clientToken || !adminToken) throw new Error('the client token and the admin token must not be empty');
  if (clientToken === adminToken) throw new Error('the admin token must differ from the client token');
}

/** Which of the hub's two tokens a request carried. */
export type Credential = 'client' | 'admin';

/**
 * Every MCP and admin request carries `Authorization: Bearer <token>`: the client token (MCP
 * endpoints) or the admin token (`/admin/*`). Anything else is 401. Both are compared, in
 * constant time, on every request; which one matched is left for `requireCredential`.
 */
export function bearerAuth(clientToken: string, adminToken: string) {
  assertDistinctTokens(clientToken, adminToken);
  const expected = { client: digest(clientToken), admin: digest(adminToken) };
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const presented = digest(match ? match[1].trim() : '');
    const isClient = timingSafeEqual(presented, expected.client);
    const isAdmin = timingSafeEqual(presented, expected.admin);
    if (!match || (!isClient && !isAdmin)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="mcp-session-hub"');
      sendJsonRpcError(res, 401, RpcErrorCode.Refused, match ? 'Unauthorized: wrong bearer token' : 'Unauthorized: send Authorization: Bearer <hub token>');
      return;
    }
    (res.locals as { credential?: Credential }).credential = isAdmin ? 'admin' : 'client';
    next();
  };
}

const wrongCredential: Record<Credential, string> = {
  admin: 'Forbidden: the admin API needs the admin token; this is the MCP client token',
  client: 'Forbidden: MCP endpoints need the client token; this is the admin token',
};

/**
 * After `bearerAuth`: 403 unless the request carried `credential`. The MCP client token on the
 * admin API is refused, so an agent talked into an HTTP call cannot switch safe mode off, read
 * other sessions' owned ids or end sessions; the admin token is refused on MCP endpoints.
 */
export function requireCredential(credential: Credential) {
  return (_req: Request, res: Response, next: NextFunction) => {
    if ((res.locals as { credential?: Credential }).credential !== credential) {
      sendJsonRpcError(res, 403, RpcErrorCode.Refused, wrongCredential[credential]);
      return;
    }
    next();
  };
}
