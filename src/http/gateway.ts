import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import createRouter, { type HTTPMethod } from 'find-my-way';
import { RpcErrorCode } from '../core/infra/errors';
import { errorMessage, type Logger } from '../core/infra/logger';
import { hubVersion, type Hub } from '../hub/hub';
import type { AuditTrail } from '../hub/auditTrail';
import { activityRoutes } from './activityRoutes';
import { adminRoutes } from './adminRoutes';
import { EdgeRefusal, sendJson, sendJsonRpcError, type RouteHandler, type RouteTable } from './edge';
import { readJsonBody } from './jsonBody';
import { McpRoutes } from './mcpRoutes';
import type { SavedConnections } from './savedConnections';
import { EdgeGuard, isLoopbackHost, type Credential } from './security';

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
  /** Streamable HTTP connections to serve again after a restart. */
  savedConnections?: SavedConnections;
  /** The audit trail, whose status `/admin/activity` reports. */
  audit?: AuditTrail;
};

export type RunningGateway = {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  close(): Promise<void>;
};

/** What a route holds: its handler, and the token it takes (`none` for `/healthz`). */
type Route = { handle: RouteHandler; credential: Credential | 'none' };

/**
 * Which token a path with no route would take, to answer it 401 or 403 before 404 as a known
 * one would be. A route's own credential decides for the routes: the router decodes paths, so
 * `/%61dmin/state` finds an admin route that this pattern does not see.
 */
const adminPath = /^\/admin(?:[/?]|$)/i;
/**
 * Metadata the hub does not serve (OAuth's protected resource and authorization server, OpenID):
 * 404 to anyone, so no client takes the hub for an OAuth server. A 401 there would say "sign in".
 */
const wellKnownPath = /^\/\.well-known(?:[/?]|$)/i;

/**
 * The HTTP edge: `node:http` and one route table, no framework. Every request takes the same
 * steps in the same order: who is calling (Host, Origin), which token it carries and whether
 * that is the token its path needs, its route, its JSON body within the limits, and then the
 * MCP endpoints (`McpRoutes`) or the admin API (`adminRoutes`). Whatever is refused on the way
 * is answered with a JSON-RPC error and a fitting status.
 */
class Edge {
  private readonly router = createRouter({ caseSensitive: false, ignoreTrailingSlash: true });
  private readonly guard: EdgeGuard;

  constructor(
    private readonly hub: Hub,
    options: GatewayOptions,
    private readonly logger: Logger,
  ) {
    const host = options.host ?? '127.0.0.1';
    this.guard = new EdgeGuard({ clientToken: options.token, adminToken: options.adminToken, extraHostnames: isLoopbackHost(host) ? [] : [host], allowedOrigins: options.allowedOrigins });
  }

  /** A route table whose routes take `credential`. */
  routes(credential: Route['credential']): RouteTable {
    // The route is the router's store; its own handler is unused, as `handle` calls `find`.
    const unused = () => undefined;
    return {
      on: (methods, path, handle) => this.router.on(methods, path, unused, { handle, credential } satisfies Route),
      all: (path, handle) => this.router.all(path, unused, { handle, credential } satisfies Route),
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Routes and /admin answer in JSON-RPC; any other path is no MCP client's (see sendToOAuthClient).
    let mcpOrAdmin = true;
    try {
      this.guard.checkCaller(req);
      const url = req.url ?? '/';
      const found = this.router.find(req.method as HTTPMethod, url);
      const route = found?.store as Route | undefined;
      mcpOrAdmin = route !== undefined || adminPath.test(url);
      const credential = route?.credential ?? (adminPath.test(url) ? 'admin' : wellKnownPath.test(url) ? 'none' : 'client');
      if (credential !== 'none') this.guard.checkCredential(req, credential);
      if (!found || !route) {
        const path = url.split('?', 1)[0];
        throw new EdgeRefusal(404, RpcErrorCode.Refused, `Not found: ${req.method ?? ''} ${path}`);
      }
      const body = await readJsonBody(req, this.hub.config.settings);
      await route.handle({ req, res, params: found.params, query: found.searchParams, body });
    } catch (error) {
      if (error instanceof EdgeRefusal) return mcpOrAdmin ? error.send(res) : error.sendToOAuthClient(res);
      this.logger.error(`${req.method ?? ''} ${req.url ?? ''} failed: ${errorMessage(error)}`);
      sendJsonRpcError(res, 500, RpcErrorCode.InternalError, 'Internal error');
    }
  }
}

/** Starts the HTTP edge of a hub: security checks, MCP endpoints, admin API. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { hub, logger } = options;
  const host = options.host ?? '127.0.0.1';
  const edge = new Edge(hub, options, logger); // throws before listening when the tokens are equal
  let url = '';
  // HEAD too, as health checkers send it (Node sends no body to a HEAD).
  edge.routes('none').on(['GET', 'HEAD'], '/healthz', ({ res }) => sendJson(res, 200, { name: 'mcp-session-hub', version: hubVersion }));
  adminRoutes(edge.routes('admin'), hub, () => url);
  activityRoutes(edge.routes('admin'), hub, options.audit);
  new McpRoutes(hub, logger.child('mcp'), options.savedConnections).addTo(edge.routes('client'));

  const server: HttpServer = createServer((req, res) => void edge.handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
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
