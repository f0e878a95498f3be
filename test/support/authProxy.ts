import { createServer, request, type Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RunningProxy = { url: string; close(): Promise<void> };
export type AuthProxy = RunningProxy;

/**
 * A transparent loopback reverse proxy to `target` that adds `headers` and changes nothing else
 * (Host, Origin, bodies and streams pass as they are). With a keep-alive `agent` it is the floor
 * of one Node hop that the benchmark compares the hub with (`bench/bareHop.ts`).
 */
export async function startProxy(target: string, options: { headers?: Record<string, string>; agent?: Agent } = {}): Promise<RunningProxy> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    const forwarded = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, ...options.headers }, agent: options.agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    // A client that goes away mid-answer takes the upstream request with it.
    res.on('close', () => {
      if (!res.writableFinished) forwarded.destroy();
    });
    req.pipe(forwarded);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A proxy that adds `Authorization: Bearer <token>`, for clients that cannot send headers (the conformance CLI). */
export function startAuthProxy(target: string, token: string): Promise<AuthProxy> {
  return startProxy(target, { headers: { authorization: `Bearer ${token}` } });
}
