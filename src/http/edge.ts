import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HTTPMethod } from 'find-my-way';
import type { RpcErrorCode } from '../core/infra/errors';

/** One request that passed the edge's checks, with what its route and its body gave. */
export type EdgeRequest = {
  req: IncomingMessage;
  res: ServerResponse;
  /** The route's parameters (`/servers/:id/mcp`), percent-decoded, in their own letter case. */
  params: Readonly<Record<string, string | undefined>>;
  /** The query string's parameters; one that repeats is an array. */
  query: Readonly<Record<string, string | string[] | undefined>>;
  /** The JSON body, parsed (see `readJsonBody`); undefined when there is none or it is not JSON. */
  body: unknown;
};

export type RouteHandler = (request: EdgeRequest) => void | Promise<void>;

/** Where the MCP endpoints and the admin API put their routes; paths match without regard to letter case. */
export type RouteTable = {
  on(method: HTTPMethod | HTTPMethod[], path: string, handle: RouteHandler): void;
  /** Every method: the handler answers the ones it does not serve (the SDK's 405). */
  all(path: string, handle: RouteHandler): void;
};

/** A JSON body with its length. */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
}

/**
 * The HTTP edge's one way to refuse: a JSON-RPC-shaped error body with a fitting status, as MCP
 * clients expect even for HTTP-level failures. The code is one of the hub's (`RpcErrorCode`).
 */
export function sendJsonRpcError(res: ServerResponse, status: number, code: RpcErrorCode, message: string, headers?: Record<string, string>): void {
  if (res.headersSent) return;
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}

/** An OAuth error body (RFC 6749 §5.2), as OAuth clients read one from an endpoint of theirs. */
export type OAuthErrorBody = { error: string; error_description: string };

/** What the edge answers instead of serving a request: a status, one of the hub's codes, and why. */
export class EdgeRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: RpcErrorCode,
    message: string,
    readonly headers?: Record<string, string>,
    /** How an OAuth client should read this refusal, where it has one (a 401). */
    readonly oauth?: OAuthErrorBody,
  ) {
    super(message);
  }

  send(res: ServerResponse): void {
    sendJsonRpcError(res, this.status, this.code, this.message, this.headers);
  }

  /**
   * On a path the hub has no route for, an OAuth-aware client is looking for an OAuth endpoint
   * (its SDK falls back to `/register` and `/token` at the root): it gets an OAuth error body it
   * can read, where a JSON-RPC one would be an unreadable "invalid OAuth error response".
   */
  sendToOAuthClient(res: ServerResponse): void {
    if (!this.oauth || res.headersSent) return this.send(res);
    sendJson(res, this.status, this.oauth, this.headers);
  }
}
