import { request } from 'node:http';
import { testToken } from './hubHarness';

export type RawResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** A plain HTTP request, for what fetch cannot send (a forged Host) or to read statuses exactly. */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; auth?: boolean } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = {
    accept: 'application/json, text/event-stream',
    ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(options.auth === false ? {} : { authorization: `Bearer ${testToken}` }),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
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
