import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HTTPMethod } from 'find-my-way';
import type { RpcErrorCode } from '../core/errors';

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

/** What the edge answers instead of serving a request: a status, one of the hub's codes, and why. */
export class EdgeRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: RpcErrorCode,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  send(res: ServerResponse): void {
    sendJsonRpcError(res, this.status, this.code, this.message, this.headers);
  }
}
