import { request } from 'node:http';
import { createParser } from 'eventsource-parser';
import { testToken } from './hubHarness';

export type RawResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/**
 * A plain HTTP request, for what fetch cannot send (a forged Host) or to read statuses exactly.
 * A header given as `undefined` is left out (even a default one); with `timeoutMs` the request
 * fails instead of waiting for an answer that never comes.
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string | undefined>; body?: string | Buffer; auth?: boolean; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const merged: Record<string, string | undefined> = {
    accept: 'application/json, text/event-stream',
    ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(options.auth === false ? {} : { authorization: `Bearer ${testToken}` }),
    ...options.headers,
  };
  const headers = Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== undefined));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.timeoutMs !== undefined) {
      const { timeoutMs } = options;
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no complete answer within ${timeoutMs} ms: ${options.method ?? 'GET'} ${url}`)));
    }
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** The JSON-RPC messages of an answer: its JSON body, or the `data:` of each event of an SSE body. */
export function answerMessages(response: RawResponse): Record<string, unknown>[] {
  const type = String(response.headers['content-type'] ?? '');
  if (type.includes('text/event-stream')) {
    const messages: Record<string, unknown>[] = [];
    const parser = createParser({ onEvent: ({ data }) => void (data && messages.push(JSON.parse(data) as Record<string, unknown>)) });
    parser.feed(response.body);
    return messages;
  }
  if (type.includes('application/json') && response.body) return [JSON.parse(response.body) as Record<string, unknown>];
  return [];
}

export const initializeBody = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

/** Opens a Streamable HTTP session with a raw request; returns its id. */
export async function rawInitialize(endpoint: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await rawRequest(endpoint, { method: 'POST', body: initializeBody, headers });
  if (response.status !== 200) throw new Error(`initialize answered ${response.status}: ${response.body}`);
  const id = response.headers['mcp-session-id'];
  if (typeof id !== 'string') throw new Error('initialize gave no Mcp-Session-Id');
  await rawRequest(endpoint, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    headers: { 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25', ...headers },
  });
  return id;
}
