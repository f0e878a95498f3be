import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { urlToHttpOptions } from 'node:url';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage, JSONRPCResponse, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { createParser } from 'eventsource-parser';

/**
 * One JSON-RPC request POSTed to a Streamable HTTP upstream over a keep-alive socket, its
 * answer read from a JSON body or an SSE stream. The SDK's client transport does the same
 * with `fetch` and web streams, which cost the hub more than everything else on a call put
 * together; the hub uses this for requests it forwards and the SDK's transport for the rest
 * (initialize, the GET stream, notifications, answers to the upstream's requests).
 */
export type DirectPost = {
  /** From `targetOf`: where to POST. */
  target: PostTarget;
  /** This request's own headers (the upstream connection's `Mcp-Session-Id`, protocol version), on top of the target's. */
  headers: Record<string, string>;
  id: RequestId;
  body: string;
  signal: AbortSignal;
  /** Every other message the upstream sends on this request's stream: its requests, progress, logs. */
  onMessage(message: JSONRPCMessage): void;
  /** Largest message accepted (a JSON body, or one SSE event); a larger one fails the request. */
  maxMessageBytes: number;
};

/** How long to wait before resuming a request's closed event stream when the upstream gave no `retry`. */
const defaultRetryMs = 1_000;
/** The longest `retry` honoured: an upstream cannot park a call for longer than this per resumption. */
const maxRetryMs = 30_000;
/** Resumptions of one request's stream; past it the request fails as unanswered. */
const maxResumes = 5;

/** The error for an answer over `maxMessageBytes`. */
export class MessageTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`upstream sent a message larger than ${limit} bytes (hub.maxUpstreamMessageBytes)`);
  }
}

/** An upstream URL as request options, worked out once rather than on every request, and its configured headers. */
export type PostTarget = { https: boolean; options: RequestOptions; headers: Record<string, string>; agent: HttpAgent; auth?: BearerAuth };

/** Where an OAuth-protected upstream's bearer token comes from (`UpstreamAuth`). */
export type BearerAuth = {
  /** The token to send now (refreshed first when about to expire); undefined when not signed in. */
  accessToken(): Promise<string | undefined>;
  /** After a 401 with `token`: a new token, or undefined when the user must sign in. */
  refreshAfterUnauthorized(token: string): Promise<string | undefined>;
  /** After a 403 `insufficient_scope`: a token with more scope, or undefined when the user must sign in. */
  stepUp(wwwAuthenticate: string): Promise<string | undefined>;
};

/** The target with its own keep-alive sockets; `agent.destroy()` closes them. */
export function targetOf(url: URL, headers: Record<string, string>, auth?: BearerAuth): PostTarget {
  const https = url.protocol === 'https:';
  return { https, options: urlToHttpOptions(url), headers, agent: https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }), ...(auth ? { auth } : {}) };
}

/** An HTTP error status from the upstream, with what it said in `WWW-Authenticate`. */
export class UpstreamHttpError extends StreamableHTTPError {
  constructor(
    code: number,
    message: string,
    readonly wwwAuthenticate: string | undefined,
  ) {
    super(code, message);
  }
}

/** The upstream wants a sign-in the hub does not have: a refresh or step-up could not give a token. */
export class SignInNeededError extends Error {
  constructor(readonly status: number) {
    super(`the upstream answered HTTP ${status} and the hub holds no sign-in it accepts`);
    this.name = 'SignInNeededError';
  }
}

/**
 * `postRequest` with the target's bearer token: refreshed before it expires, once more after a
 * 401, and after a 403 `insufficient_scope` one step-up to the scope the upstream names. Rejects
 * with `SignInNeededError` when none of that gives a token the upstream takes.
 */
export async function postAuthorized(post: DirectPost): Promise<JSONRPCResponse> {
  const auth = post.target.auth;
  if (!auth) return postRequest(post);
  let token = await auth.accessToken();
  let refreshed = false;
  let steppedUp = false;
  for (;;) {
    try {
      return await postRequest(token ? { ...post, headers: { ...post.headers, authorization: `Bearer ${token}` } } : post);
    } catch (error) {
      if (!(error instanceof UpstreamHttpError)) throw error;
      let next: string | undefined;
      if (error.code === 401 && !refreshed) {
        refreshed = true;
        next = await auth.refreshAfterUnauthorized(token ?? '');
      } else if (error.code === 403 && !steppedUp && /insufficient_scope/.test(error.wwwAuthenticate ?? '')) {
        steppedUp = true;
        next = await auth.stepUp(error.wwwAuthenticate ?? '');
      } else {
        throw error;
      }
      if (!next) throw new SignInNeededError(error.code ?? 0);
      token = next;
    }
  }
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function isAnswerTo(message: unknown, id: RequestId): message is JSONRPCResponse {
  if (typeof message !== 'object' || message === null) return false;
  const candidate = message as Record<string, unknown>;
  return candidate.id === id && !('method' in candidate) && ('result' in candidate || 'error' in candidate);
}

function readText(res: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > maxBytes) {
        res.destroy();
        reject(new MessageTooLargeError(maxBytes));
      }
    });
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}

/**
 * Resolves with the upstream's answer to the request (a result or an error response). Rejects
 * with `StreamableHTTPError` on an HTTP error status (404 means the upstream forgot the
 * connection, as with the SDK's transport), with `signal.reason` when aborted, and with a plain
 * error when the upstream answers something that is not JSON-RPC.
 */
export function postRequest(post: DirectPost): Promise<JSONRPCResponse> {
  const { target, id, signal } = post;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      finish();
    };
    const fail = (error: unknown) => settle(() => reject(error));
    const deliver = (message: unknown) => {
      if (isAnswerTo(message, id)) settle(() => resolve(message));
      else if (!settled && typeof message === 'object' && message !== null) post.onMessage(message as JSONRPCMessage);
    };
    // Checked first: the error's stack trace would cost more than the rest of the call's reading.
    const unanswered = () => {
      if (!settled) fail(new Error(`upstream ended its response to request ${JSON.stringify(id)} without answering it`));
    };
    // SEP-1699: an upstream may close a request's event stream before it answers, having given
    // an event id; the answer then comes on a GET with Last-Event-ID, after `retry` ms.
    let lastEventId: string | undefined;
    let retryMs = defaultRetryMs;
    let resumes = 0;
    let resumeTimer: NodeJS.Timeout | undefined;
    const streamEnded = () => {
      if (settled) return;
      if (lastEventId === undefined || resumes >= maxResumes) return unanswered();
      resumes++;
      resumeTimer = setTimeout(resume, retryMs);
    };

    const onResponse = (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        readText(res, 64 * 1024).then(
          (text) => fail(new UpstreamHttpError(status, `Error POSTing to endpoint: ${text.slice(0, 500)}`, headerText(res.headers['www-authenticate']))),
          fail,
        );
        return;
      }
      res.on('error', fail);
      const type = String(res.headers['content-type'] ?? '');
      if (type.includes('text/event-stream')) {
        res.setEncoding('utf8');
        // Characters read since the last complete event: what the parser holds for the next one.
        let pending = 0;
        const parser = createParser({
          onRetry: (retry) => (retryMs = Math.min(Math.max(retry, 0), maxRetryMs)),
          onEvent: (event) => {
            pending = 0;
            if (event.id) lastEventId = event.id;
            if ((event.event && event.event !== 'message') || !event.data) return;
            try {
              deliver(JSON.parse(event.data));
            } catch (error) {
              fail(new Error(`upstream sent an event that is not JSON: ${String(error)}`));
              res.destroy();
            }
          },
        });
        res.on('data', (chunk: string) => {
          pending += chunk.length;
          if (pending > post.maxMessageBytes) {
            fail(new MessageTooLargeError(post.maxMessageBytes));
            res.destroy();
            return;
          }
          parser.feed(chunk);
        });
        res.on('end', streamEnded);
        return;
      }
      readText(res, post.maxMessageBytes).then((text) => {
        if (!type.includes('application/json')) {
          fail(new Error(`upstream answered HTTP ${status} with content type '${type}', not JSON or an event stream`));
          return;
        }
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          fail(new Error(`upstream answered with invalid JSON: ${text.slice(0, 200)}`));
          return;
        }
        for (const message of Array.isArray(body) ? body : [body]) deliver(message);
        unanswered();
      }, fail);
    };

    const send = target.https ? httpsRequest : httpRequest;
    let req = send(
      {
        ...target.options,
        method: 'POST',
        agent: target.agent,
        headers: {
          ...target.headers,
          ...post.headers,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'content-length': Buffer.byteLength(post.body),
        },
      },
      onResponse,
    );
    const resume = () => {
      if (settled) return;
      req = send({ ...target.options, method: 'GET', agent: target.agent, headers: { ...target.headers, ...post.headers, accept: 'text/event-stream', 'last-event-id': lastEventId ?? '' } }, onResponse);
      req.on('error', fail);
      req.end();
    };
    const onAbort = () => {
      clearTimeout(resumeTimer);
      fail(signal.reason);
      req.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', fail);
    req.end(post.body);
  });
}
