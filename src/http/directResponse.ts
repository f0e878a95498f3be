import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { RpcErrorCode } from '../core/infra/errors';
import type { OutputVerdict } from './clientConnection';

/** Why a direct call ended without its result: its connection closed under it. */
export class ConnectionClosedError extends Error {
  constructor() {
    super('Connection closed: the connection ended while the call was in flight');
  }
}

/**
 * The HTTP response to one call on the direct path. It answers with one JSON body when the
 * result is all there is to send, and turns into an SSE stream (as the SDK's transport always
 * does) as soon as something else must go to the client first: a log, progress, or a request
 * the upstream sends while serving the call (sampling, elicitation, roots). Its `controller`
 * aborts the call when the client goes away mid-call, cancels it, or its connection closes.
 */
export class DirectResponse {
  readonly controller = new AbortController();
  private streaming = false;
  /** The latest progress held back while the client does not read: sent when its socket drains. */
  private heldProgress?: JSONRPCMessage;

  constructor(
    private readonly res: ServerResponse,
    /** The connection's `Mcp-Session-Id`, sent back on the response. */
    private readonly connectionId: string,
    private readonly id: RequestId,
    /** Whether a message of about `size` bytes may be queued to the client now (see ClientConnection.admit). */
    private readonly admit: (message: JSONRPCMessage, size: number) => OutputVerdict = () => 'send',
  ) {
    res.once('close', () => {
      if (!res.writableFinished) this.controller.abort(new Error('client disconnected'));
    });
    res.on('drain', () => {
      const held = this.heldProgress;
      this.heldProgress = undefined;
      if (held) this.write(held);
    });
  }

  private get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /** A message that belongs to the call but is not its answer. */
  write(message: JSONRPCMessage): void {
    if (!this.open) return;
    const verdict = this.admit(message, 0);
    if (verdict === 'drop') {
      // Progress is coalesced: only the latest is kept, for when the client reads again.
      if ('method' in message && message.method === 'notifications/progress') this.heldProgress = message;
      return;
    }
    if (verdict === 'close') return;
    if (!this.streaming) {
      this.streaming = true;
      this.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'mcp-session-id': this.connectionId });
    }
    this.res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /**
   * The answer, ending the response. Without one: an error if the connection closed, else 202 and
   * no body (the client cancelled and expects no answer).
   */
  end(result: JSONRPCMessage | undefined): void {
    if (!this.open) return;
    const reason: unknown = this.controller.signal.reason;
    const answer = result ?? (reason instanceof ConnectionClosedError ? { jsonrpc: '2.0' as const, id: this.id, error: { code: RpcErrorCode.ConnectionClosed, message: reason.message } } : undefined);
    this.heldProgress = undefined; // the answer says more than any progress
    const body = answer ? JSON.stringify(answer) : undefined;
    if (answer && body && this.admit(answer, body.length) === 'close') return;
    if (this.streaming) {
      if (body) this.res.write(`event: message\ndata: ${body}\n\n`);
      this.res.end();
    } else if (body) {
      this.res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': this.connectionId }).end(body);
    } else {
      this.res.writeHead(202).end();
    }
  }
}
