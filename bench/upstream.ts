/**
 * The cheapest useful MCP upstream for benchmarks: one `echo` tool over Streamable HTTP on
 * 127.0.0.1, one McpServer + transport per session (the SDK's own example shape), no event
 * store, no logging. Whatever the benchmark measures on top of it is the path, not the tool.
 *
 * As a script (`node out/bench/upstream.js [--port N] [--json]`) it prints one JSON line
 * `{"event":"ready","url":...}` when listening and exits on SIGTERM/SIGINT or when stdin
 * closes (its parent died), so it never outlives the benchmark. `--json` answers each POST with
 * one JSON body instead of an SSE stream (the SDK's `enableJsonResponse`).
 *
 * `--stdio` serves the same `echo` tool over stdio instead (for gateways that front a stdio
 * server: the hub's `stdio` upstreams, the peers in `peers.ts`): no ready line, nothing but
 * JSON-RPC on stdout, and it exits when stdin closes or on SIGTERM/SIGINT.
 */
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

export type RunningUpstream = { url: string; close(): Promise<void> };

type Session = { transport: StreamableHTTPServerTransport; server: McpServer };

function createEchoServer(): McpServer {
  const server = new McpServer({ name: 'bench-upstream', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Returns its text argument unchanged.', inputSchema: { text: z.string() } },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}

function sendError(res: Response, status: number, message: string): void {
  if (!res.headersSent) res.status(status).json({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
}

export async function startUpstream(port = 0, options: { jsonResponse?: boolean } = {}): Promise<RunningUpstream> {
  const sessions = new Map<string, Session>();

  const openSession = async (req: Request, res: Response): Promise<void> => {
    const server = createEchoServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: options.jsonResponse ?? false,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId && sessions.delete(transport.sessionId)) void server.close();
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  };

  const handle = async (req: Request, res: Response): Promise<void> => {
    try {
      const id = req.headers['mcp-session-id'];
      const session = typeof id === 'string' ? sessions.get(id) : undefined;
      if (session) return await session.transport.handleRequest(req, res, req.body);
      if (id !== undefined) return sendError(res, 404, 'Session not found');
      if (req.method === 'POST' && isInitializeRequest(req.body)) return await openSession(req, res);
      sendError(res, 400, 'Bad Request: no session id');
    } catch (error) {
      sendError(res, 500, `upstream failed: ${String(error)}`);
    }
  };

  const app = createMcpExpressApp({ host: '127.0.0.1' });
  app.all('/mcp', (req, res) => void handle(req, res));
  const http: HttpServer = await new Promise((resolve, reject) => {
    const listening = app.listen(port, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;

  return {
    url,
    async close() {
      const open = [...sessions.values()];
      sessions.clear();
      await Promise.allSettled(open.map(({ server }) => server.close()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** Runs `stop` once on SIGTERM/SIGINT or stdin end, then exits 0 (so `--cpu-prof` gets written). */
export function exitWhenTold(stop: () => Promise<void>): void {
  let stopping = false;
  const trigger = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 5_000).unref(); // never hang on a stuck socket
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', trigger);
  process.once('SIGINT', trigger);
  process.stdin.once('end', trigger);
  process.stdin.resume();
}

/** The echo tool over stdio until stdin closes (its gateway went away) or a signal. */
async function serveStdio(): Promise<void> {
  const server = createEchoServer();
  await server.connect(new StdioServerTransport());
  exitWhenTold(() => server.close());
}

async function main(): Promise<void> {
  if (process.argv.includes('--stdio')) return serveStdio();
  const portIndex = process.argv.indexOf('--port');
  const port = portIndex >= 0 ? Number(process.argv[portIndex + 1]) : 0;
  const upstream = await startUpstream(port, { jsonResponse: process.argv.includes('--json') });
  exitWhenTold(() => upstream.close());
  process.stdout.write(`${JSON.stringify({ event: 'ready', url: upstream.url })}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench upstream failed: ${String(error)}\n`);
    process.exit(1);
  });
}
