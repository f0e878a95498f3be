import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { JsonTooDeepError, jsonDepthExceeds } from '../core/jsonDepth';
import { errorMessage, type Logger } from '../core/logger';
import { hubVersion, type Hub } from '../hub/hub';
import { adminRouter } from './adminRoutes';
import { McpRoutes } from './mcpRoutes';
import { bearerAuth, hostValidation, isLoopbackHost, originValidation, requireCredential, sendJsonRpcError } from './security';
import { RpcErrorCode } from '../core/errors';

export type GatewayOptions = {
  hub: Hub;
  /** The client token: MCP endpoints (`/mcp`, `/sse`, `/messages`, `/servers/…`) take it, `/admin/*` refuses it. */
  token: string;
  /** The admin token: `/admin/*` takes it, MCP endpoints refuse it. Must differ from `token`. */
  adminToken: string;
  logger: Logger;
  /** 127.0.0.1 unless the user says otherwise. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Browser origins allowed besides loopback ones. */
  allowedOrigins?: string[];
};

export type RunningGateway = {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  close(): Promise<void>;
};

/**
 * The JSON body parser, with the limits of the config in force: rebuilt when a reload changes
 * them. Depth is checked on the raw bytes, before the parser builds anything.
 */
function bodyParser(hub: Hub): RequestHandler {
  let current: { maxBodyBytes: number; maxJsonDepth: number; parse: RequestHandler } | undefined;
  return (req, res, next) => {
    const { maxBodyBytes, maxJsonDepth } = hub.config.settings;
    if (current?.maxBodyBytes !== maxBodyBytes || current.maxJsonDepth !== maxJsonDepth) {
      const parse = express.json({
        limit: maxBodyBytes,
        type: ['application/json', 'application/*+json'],
        verify: (_req, _res, body) => {
          if (jsonDepthExceeds(body, maxJsonDepth)) throw new JsonTooDeepError(maxJsonDepth);
        },
      });
      current = { maxBodyBytes, maxJsonDepth, parse };
    }
    current.parse(req, res, next);
  };
}

/** Starts the HTTP edge of a hub: security checks, MCP endpoints, admin API. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { hub, logger } = options;
  const authentication = bearerAuth(options.token, options.adminToken); // throws before listening when the tokens are equal
  const host = options.host ?? '127.0.0.1';
  const app = express();
  app.disable('x-powered-by');
  let url = '';

  app.use(hostValidation(isLoopbackHost(host) ? [] : [host]));
  app.use(originValidation(options.allowedOrigins));
  app.get('/healthz', (_req, res) => {
    res.json({ name: 'mcp-session-hub', version: hubVersion });
  });
  app.use(authentication);
  const json = bodyParser(hub);
  // Everything under /admin (Express matches it case-insensitively, as the routes) takes the admin
  // token and ends in the admin router; everything else takes the client token.
  app.use('/admin', requireCredential('admin'), json, adminRouter(hub, () => url));
  app.use(requireCredential('client'), json);
  app.use(new McpRoutes(hub, logger.child('mcp')).router);
  app.use((req: Request, res: Response) => {
    sendJsonRpcError(res, 404, RpcErrorCode.Refused, `Not found: ${req.method} ${req.path}`);
  });
  // Body-parser and handler errors: a JSON-RPC error with a fitting status, never a stack trace.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (error as { status?: number }).status;
    const type = (error as { type?: string }).type;
    if (type === 'entity.parse.failed') return sendJsonRpcError(res, 400, RpcErrorCode.ParseError, 'Parse error: the body is not a JSON object or array');
    if (type === 'entity.too.large') {
      const limit = (error as { limit?: number }).limit ?? hub.config.settings.maxBodyBytes;
      return sendJsonRpcError(res, 413, RpcErrorCode.InvalidRequest, `Request body larger than ${limit} bytes (hub.maxBodyBytes)`);
    }
    if (error instanceof JsonTooDeepError) return sendJsonRpcError(res, 400, RpcErrorCode.InvalidParams, `Invalid params: ${error.message}`);
    if (status && status >= 400 && status < 500) return sendJsonRpcError(res, status, RpcErrorCode.InvalidRequest, `Bad request: ${errorMessage(error)}`);
    logger.error(`unhandled request error: ${errorMessage(error)}`);
    sendJsonRpcError(res, 500, RpcErrorCode.InternalError, 'Internal error');
  });

  const server: HttpServer = await new Promise((resolve, reject) => {
    const listening = app.listen(options.port ?? 0, host, () => resolve(listening));
    listening.once('error', reject);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const port = (server.address() as AddressInfo).port;
  url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url,
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Long-lived SSE streams would hold close() forever.
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
