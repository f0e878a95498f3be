import { McpError } from '@modelcontextprotocol/sdk/types.js';

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
