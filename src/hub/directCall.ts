import type { IncomingHttpHeaders } from 'node:http';
import {
  CallToolResultSchema,
  McpError,
  type CallToolRequest,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { RpcErrorCode } from '../core/infra/errors';
import type { CallContext, ConnectionEndpoint } from './connectionServer';

/**
 * SDK internals relied on: this file mirrors how @modelcontextprotocol/sdk 1.32 validates and
 * answers a `tools/call` (which members a request may have, zod's refusal of a `constructor` key,
 * the error shape), so that both paths answer alike; package.json pins the SDK to ~1.32 for it,
 * and the differential and reliability suites compare the answers.
 *
 * The path of every well-formed `tools/call` on an open Streamable HTTP connection, progress
 * token or not: answered with one JSON body, or an SSE stream once progress, a log or a request to
 * the client must go first (DirectResponse), instead of going through the SDK's server transport
 * and protocol layer. Those convert every POST into web streams and an SSE stream and validate
 * it with zod twice, which was most of the hub's cost per call (see docs/performance.md).
 *
 * The call itself runs the same `callTool` as the SDK's handler: same scope, same safe mode,
 * same upstream request. What the SDK must judge takes its path, which answers it: a task, a
 * batch, a malformed message (the SDK's error is the answer a client expects), and legacy SSE.
 */
export type DirectToolCall = { id: RequestId; params: CallToolRequest['params'] };

type JsonObject = Record<string, unknown>;

const requestMembers = new Set(['jsonrpc', 'id', 'method', 'params']);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The call, when `message` is a `tools/call` the direct path can answer exactly as the SDK would. */
export function asDirectToolCall(message: unknown): DirectToolCall | undefined {
  if (!isObject(message) || message.jsonrpc !== '2.0' || message.method !== 'tools/call') return undefined;
  // The SDK rejects a request with any other member; so does the direct path, by not taking it.
  if (!Object.keys(message).every((key) => requestMembers.has(key))) return undefined;
  const { id, params } = message;
  if (!(typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)))) return undefined;
  if (!isObject(params) || typeof params.name !== 'string' || params.task !== undefined) return undefined;
  if (params.arguments !== undefined && !isObject(params.arguments)) return undefined;
  // zod's record check refuses an object with its own "constructor" key: the SDK's path
  // answers those, so that both paths give the same answer.
  if (isObject(params.arguments) && Object.hasOwn(params.arguments, 'constructor')) return undefined;
  // Progress turns the answer into an SSE stream (see DirectResponse); a token the SDK would
  // refuse takes its path, which answers that.
  if (params._meta !== undefined) {
    if (!isObject(params._meta)) return undefined;
    const token = params._meta.progressToken;
    if (token !== undefined && typeof token !== 'string' && !(typeof token === 'number' && Number.isSafeInteger(token))) return undefined;
  }
  return { id, params: params as CallToolRequest['params'] };
}

/** The request id of a `notifications/cancelled`, if `message` is one. */
export function cancelledRequestId(message: unknown): RequestId | undefined {
  if (!isObject(message) || message.jsonrpc !== '2.0' || message.method !== 'notifications/cancelled' || !isObject(message.params)) return undefined;
  const { requestId } = message.params;
  return typeof requestId === 'string' || typeof requestId === 'number' ? requestId : undefined;
}

/**
 * Runs the call and builds its JSON-RPC response, the way the SDK's protocol layer would:
 * the result checked against the `tools/call` result schema, a thrown error's code, message
 * and data. Nothing when `signal` aborted (the call was cancelled or its connection closed).
 */
export async function answerDirectly(call: DirectToolCall, endpoint: ConnectionEndpoint, signal: AbortSignal, headers?: IncomingHttpHeaders): Promise<JSONRPCMessage | undefined> {
  const context: CallContext = {
    signal,
    // The request's headers, as the SDK's handler gets them: a caller's `traceparent` header is read there.
    ...(headers ? { requestInfo: { headers } } : {}),
    requestId: call.id,
    _meta: call.params._meta,
    // On this call's own response (the outgoing hook sends it there): a log the hub itself sends.
    sendNotification: (notification) => endpoint.server.notification(notification, { relatedRequestId: call.id }),
  };
  try {
    const result = await endpoint.callTool(call.params, context);
    if (signal.aborted) return undefined;
    const checked = CallToolResultSchema.safeParse(result);
    if (!checked.success) throw new McpError(RpcErrorCode.InvalidParams, `Invalid tools/call result: ${checked.error.message}`);
    return { jsonrpc: '2.0', id: call.id, result: checked.data };
  } catch (error) {
    if (signal.aborted) return undefined;
    const { code, message, data } = (error ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
    return {
      jsonrpc: '2.0',
      id: call.id,
      error: {
        code: typeof code === 'number' && Number.isSafeInteger(code) ? code : RpcErrorCode.InternalError,
        message: typeof message === 'string' ? message : 'Internal error',
        ...(data !== undefined ? { data } : {}),
      },
    };
  }
}
