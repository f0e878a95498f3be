import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { InstanceLimitError, RpcError, RpcErrorCode, UpstreamUnavailableError } from '../core/infra/errors';
import { describeUpstreamError } from '../upstream/transportFactory';

/**
 * The MCP edge's one translation: whatever a forwarded request threw becomes the JSON-RPC
 * error the client is sent; never a stack. `upstream` names the upstream the request went to,
 * `why` the reason it was last seen failing.
 */
export function toRpcError(error: unknown, upstream: string, why?: string): RpcError {
  if (error instanceof RpcError) return error;
  if (error instanceof McpError && error.code === RpcErrorCode.ConnectionClosed) {
    return new RpcError(RpcErrorCode.ConnectionClosed, `upstream '${upstream}' closed the connection during the call${why ? `: ${why}` : ''}`);
  }
  if (error instanceof McpError) return RpcError.fromMcpError(error);
  if (error instanceof UpstreamUnavailableError) return new RpcError(RpcErrorCode.UpstreamUnavailable, error.message, { upstream: error.upstream });
  if (error instanceof InstanceLimitError) {
    return new RpcError(RpcErrorCode.InstanceLimitReached, error.message, { upstream: error.upstream, maxInstances: error.maxInstances });
  }
  return new RpcError(RpcErrorCode.InternalError, `upstream '${upstream}' failed: ${describeUpstreamError(error)}`);
}
