import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const loopbackHostnames = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** A host name or address that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return loopbackHostnames.has(host.toLowerCase());
}

/** JSON-RPC-shaped error body, as MCP clients expect even for HTTP-level failures. */
export function sendJsonRpcError(res: Response, status: number, code: number, message: string): void {
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
      sendJsonRpcError(res, 403, -32000, `Forbidden: Host '${req.headers.host ?? ''}' is not allowed (the hub answers loopback names only)`);
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
      sendJsonRpcError(res, 403, -32000, `Forbidden: Origin '${origin}' is not allowed`);
      return;
    }
    next();
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Every MCP and admin request carries `Authorization: Bearer <token>`; compared in constant time. */
export function bearerAuth(token: string) {
  const expected = digest(token);
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1].trim()), expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="mcp-session-hub"');
      sendJsonRpcError(res, 401, -32000, match ? 'Unauthorized: wrong bearer token' : 'Unauthorized: send Authorization: Bearer <hub token>');
      return;
    }
    next();
  };
}
