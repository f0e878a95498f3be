import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, type ClientRequest, type JSONRPCMessage, type Progress } from '@modelcontextprotocol/sdk/types.js';
import type { HookedTransport } from '../core/infra/hookedTransport';
import type { Attributor, CallOrigin } from './attribution';
import { postAuthorized, SignInNeededError, type PostTarget } from './directPost';
import { howToSignIn } from './oauth/upstreamAuth';
import { passthroughResult, type PassthroughResult } from './passthrough';
import { RpcErrorCode, UpstreamUnavailableError } from '../core/infra/errors';

export type UpstreamRequestOptions = {
  signal?: AbortSignal;
  /** Progress the upstream reports for this request, in order, before the result. */
  onprogress?: (progress: Progress) => void;
  /** Who this request serves; what the upstream sends while serving it is attributed to them. */
  origin?: CallOrigin;
};

/** setTimeout's ceiling: what the hub gives the SDK where its own timeout, or none, applies. */
export const maxTimerMs = 2_147_483_647;

/** A Streamable HTTP upstream's connected SDK transport (whose session id and protocol version a POST sends) and where POSTs go. */
export type HttpChannel = { transport: HookedTransport<StreamableHTTPClientTransport>; target: PostTarget };

/**
 * The requests the hub forwards to one upstream: each one's deadline (restarted by progress),
 * its progress routed back to its caller by a token of the hub's own, and its cancellation.
 * Owns the progress routes and the ids of requests POSTed past the SDK's client.
 */
export class ForwardedRequests {
  private readonly progressRoutes = new Map<string, (progress: Progress) => void>();
  private progressSequence = 0;
  private directSequence = 0;

  constructor(
    private readonly upstreamId: string,
    private readonly timeoutMs: number,
    private readonly maxMessageBytes: () => number,
    private readonly attributor: Attributor,
  ) {}

  /**
   * Sends `request` on `client`, or POSTs it on `http` when the upstream speaks Streamable HTTP.
   * The timeout restarts on every progress notification; when it expires, or `signal` aborts,
   * the upstream gets `notifications/cancelled`.
   */
  async send(client: Client, http: HttpChannel | undefined, request: ClientRequest, options: UpstreamRequestOptions): Promise<PassthroughResult> {
    const { timeoutMs } = this;
    // One controller for the deadline and the caller's signal (AbortSignal.any costs more per call).
    const deadline = new AbortController();
    const { signal } = deadline;
    const expire = () => deadline.abort(new McpError(RpcErrorCode.RequestTimeout, `upstream '${this.upstreamId}' did not answer within ${timeoutMs} ms`));
    const callerAborted = () => deadline.abort(options.signal?.reason);
    if (options.signal?.aborted) callerAborted();
    else options.signal?.addEventListener('abort', callerAborted, { once: true });
    let timer = setTimeout(expire, timeoutMs);
    let token: string | undefined;
    let outgoing = request;
    if (options.onprogress) {
      // The hub's own token: progress is routed at the transport, in order with the result.
      token = `hub-progress-${++this.progressSequence}`;
      const forward = options.onprogress;
      this.progressRoutes.set(token, (progress) => {
        clearTimeout(timer);
        timer = setTimeout(expire, timeoutMs);
        forward(progress);
      });
      const params = (request.params ?? {}) as Record<string, unknown>;
      const meta = (params._meta ?? {}) as Record<string, unknown>;
      outgoing = { ...request, params: { ...params, _meta: { ...meta, progressToken: token } } } as ClientRequest;
    }
    try {
      return await this.attributor.serve(options.origin, () =>
        http ? this.post(client, http, outgoing, signal, options.origin) : client.request(outgoing, passthroughResult, { signal, timeout: maxTimerMs }),
      );
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', callerAborted);
      if (token) this.progressRoutes.delete(token);
    }
  }

  /**
   * Hands a `notifications/progress` to the request whose token it carries, without the token.
   * False when it is none of the hub's requests': then the SDK's client sees it.
   */
  routeProgress(params: Record<string, unknown> | undefined): boolean {
    const progress = params as (Progress & { progressToken?: string | number }) | undefined;
    const route = typeof progress?.progressToken === 'string' ? this.progressRoutes.get(progress.progressToken) : undefined;
    if (!route) return false;
    const { progressToken: _token, ...rest } = progress as Progress & { progressToken?: string | number };
    route(rest);
    return true;
  }

  /**
   * A forwarded request to a Streamable HTTP upstream, sent with `postRequest` rather than the
   * SDK's client (see there why). Whatever else comes on its stream goes through the SDK's
   * transport handler, as if the SDK had read it, attributed to `origin` (the stream says whose
   * it is); aborting sends `notifications/cancelled`.
   */
  private async post(client: Client, { transport, target }: HttpChannel, request: ClientRequest, signal: AbortSignal, origin: CallOrigin | undefined): Promise<PassthroughResult> {
    const id = `hub-${++this.directSequence}`;
    const headers: Record<string, string> = {};
    if (transport.inner.sessionId) headers['mcp-session-id'] = transport.inner.sessionId;
    if (transport.inner.protocolVersion) headers['mcp-protocol-version'] = transport.inner.protocolVersion;
    // A client's trace context goes on as W3C headers too, so an HTTP upstream's tracing continues it.
    const meta = (request.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
    for (const name of ['traceparent', 'tracestate'] as const) if (typeof meta?.[name] === 'string') headers[name] = meta[name];
    try {
      const answer = await postAuthorized({
        target,
        headers,
        id,
        body: JSON.stringify({ jsonrpc: '2.0', id, method: request.method, params: request.params }),
        maxMessageBytes: this.maxMessageBytes(),
        signal,
        onMessage: (message: JSONRPCMessage) => this.attributor.deliverFor(origin, () => transport.receive(message)),
      });
      if ('error' in answer) throw McpError.fromError(answer.error.code, answer.error.message, answer.error.data);
      const result: unknown = answer.result;
      if (typeof result !== 'object' || result === null || Array.isArray(result)) {
        throw new McpError(RpcErrorCode.InvalidRequest, `upstream '${this.upstreamId}' answered ${request.method} with a result that is not an object`);
      }
      return result as PassthroughResult;
    } catch (error) {
      if (error instanceof SignInNeededError) throw new UpstreamUnavailableError(this.upstreamId, `needs sign-in (it answered HTTP ${error.status}); ${howToSignIn(this.upstreamId)}`);
      if (signal.aborted) {
        const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
        void client.notification({ method: 'notifications/cancelled', params: { requestId: id, reason } }).catch(() => undefined);
      }
      throw error;
    }
  }
}
