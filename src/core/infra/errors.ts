import { ErrorCode, type McpError } from '@modelcontextprotocol/sdk/types.js';

/**
 * The hub's error vocabulary: the JSON-RPC codes it answers with, and the typed errors below
 * them. Each edge translates: the MCP layer through `toRpcError` (src/hub/toRpcError.ts), the
 * HTTP layer through `sendJsonRpcError` (src/http/edge.ts), the VS Code layer into messages.
 */

/**
 * Every JSON-RPC error code the hub sends, named once. The standard ones and the SDK's are the
 * SDK's values; the hub's own are in the spec's server-error range (-32000 to -32099).
 */
export const RpcErrorCode = {
  ParseError: ErrorCode.ParseError,
  InvalidRequest: ErrorCode.InvalidRequest,
  MethodNotFound: ErrorCode.MethodNotFound,
  InvalidParams: ErrorCode.InvalidParams,
  InternalError: ErrorCode.InternalError,
  /** The SDK's: a connection (the client's or an upstream's) closed while a request was in flight. */
  ConnectionClosed: ErrorCode.ConnectionClosed,
  /** The SDK's: no answer within the timeout. */
  RequestTimeout: ErrorCode.RequestTimeout,
  /**
   * The HTTP edge refused the request itself (Host, Origin, token, media type, a full hub, an
   * unknown path): the code the SDK's server transports use for theirs.
   */
  Refused: -32000,
  /** No connection with that `Mcp-Session-Id` or SSE `sessionId` (the code the SDK's transport answers it with). */
  ConnectionNotFound: -32001,
  /** The MCP spec's "resource not found". */
  ResourceNotFound: -32002,
  /** The upstream that would serve the request is down, starting or backing off. */
  UpstreamUnavailable: -32004,
  /** A per-session upstream runs its `maxInstances` already. */
  InstanceLimitReached: -32005,
} as const;

export type RpcErrorCode = (typeof RpcErrorCode)[keyof typeof RpcErrorCode];

/**
 * A JSON-RPC error whose message goes on the wire as written. The SDK serializes any thrown
 * error's `code`, `message` and `data`; its `McpError` bakes "MCP error N: " into `message`,
 * and the client adds that prefix again, so errors thrown as McpError read doubled.
 */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }

  /** An upstream's error as the upstream wrote it. */
  static fromMcpError(error: McpError): RpcError {
    const prefix = `MCP error ${error.code}: `;
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    return new RpcError(error.code, message, error.data);
  }
}

/** A JSON path into the config file, printed as `servers.demo.command`. */
export type ConfigIssue = { path: string; message: string };

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${source}: invalid hub config:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The upstream a request needs is not connected (starting, failed or stopped). */
export class UpstreamUnavailableError extends Error {
  constructor(
    readonly upstream: string,
    readonly reason: string,
  ) {
    super(`upstream '${upstream}' is unavailable: ${reason}`);
    this.name = 'UpstreamUnavailableError';
  }
}

/** A per-session upstream already runs as many session instances as its config allows. */
export class InstanceLimitError extends Error {
  constructor(
    readonly upstream: string,
    readonly maxInstances: number,
    why = `it already runs maxInstances = ${maxInstances} session instances; end a session or raise maxInstances`,
  ) {
    super(`upstream '${upstream}' cannot start an instance for this session: ${why}`);
    this.name = 'InstanceLimitError';
  }
}
