import { request, type ClientRequest } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { testToken } from './hubHarness';
import { rawRequest, type RawResponse } from './rawHttp';

type Waiter = { resolve: (message: Record<string, unknown>) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };

/**
 * A legacy HTTP+SSE session driven by hand: any bytes can be posted to its `/messages` endpoint,
 * and the answers are read off its stream. The SDK's client transport validates what it sends;
 * this does not, which is the point.
 */
export class RawSseSession {
  private readonly waiters = new Map<string, Waiter>();
  /** Messages that came on the stream with no request waiting for them (notifications, late answers). */
  readonly unclaimed: Record<string, unknown>[] = [];
  closed = false;

  /** Absolute URL of this session's message endpoint (with `sessionId`). */
  messagesUrl = '';
  /** The session id the stream announced. */
  sessionId = '';
  private onEndpoint?: () => void;

  private constructor(private readonly streamRequest: ClientRequest) {}

  /** Opens a stream on `${hubUrl}${path}` (`/sse` or `/servers/{id}/sse`) and waits for its endpoint event. */
  static open(hubUrl: string, path: string, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<RawSseSession> {
    return new Promise((resolve, reject) => {
      const streamRequest = request(`${hubUrl}${path}`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${testToken}`, ...headers } }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`SSE stream answered ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        const parser = createParser({ onEvent: (event) => session.take(event, hubUrl) });
        res.on('data', (chunk: string) => parser.feed(chunk));
        res.on('close', () => session.onClosed());
      });
      const session = new RawSseSession(streamRequest);
      const timer = setTimeout(() => {
        streamRequest.destroy();
        reject(new Error(`no endpoint event on ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      session.onEndpoint = () => {
        clearTimeout(timer);
        resolve(session);
      };
      streamRequest.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
        session.onClosed();
      });
      streamRequest.end();
    });
  }

  /** Posts raw bytes to the message endpoint. */
  post(body: string, options: { headers?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<RawResponse> {
    return rawRequest(this.messagesUrl, { method: 'POST', body, headers: options.headers, timeoutMs: options.timeoutMs ?? 5_000 });
  }

  /** The message on the stream that answers request `id`; fails after `timeoutMs`. */
  answer(id: unknown, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    const key = JSON.stringify(id);
    const early = this.unclaimed.findIndex((message) => isAnswer(message) && JSON.stringify(message.id) === key);
    if (early >= 0) return Promise.resolve(this.unclaimed.splice(early, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`no answer to request ${key} on the SSE stream within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, { resolve, reject, timer });
    });
  }

  close(): void {
    this.streamRequest.destroy();
    this.onClosed();
  }

  /** One event off the stream: the endpoint announcement, or a message for whoever waits for it. */
  private take(event: EventSourceMessage, hubUrl: string): void {
    if (event.event === 'endpoint') {
      const url = new URL(event.data, hubUrl);
      this.messagesUrl = url.href;
      this.sessionId = url.searchParams.get('sessionId') ?? '';
      this.onEndpoint?.();
      return;
    }
    if ((event.event ?? 'message') !== 'message') return;
    const message = JSON.parse(event.data) as Record<string, unknown>;
    const waiter = isAnswer(message) ? this.waiters.get(JSON.stringify(message.id)) : undefined;
    if (!waiter) {
      this.unclaimed.push(message);
      return;
    }
    clearTimeout(waiter.timer);
    this.waiters.delete(JSON.stringify(message.id));
    waiter.resolve(message);
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('the SSE stream closed'));
    }
    this.waiters.clear();
  }
}

function isAnswer(message: Record<string, unknown>): boolean {
  return 'id' in message && ('result' in message || 'error' in message);
}

