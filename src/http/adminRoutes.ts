import { errorMessage } from '../core/infra/logger';
import type { Hub } from '../hub/hub';
import { sendJson, sendJsonRpcError, type RouteTable } from './edge';
import { StateBroadcaster } from './stateBroadcaster';
import { RpcErrorCode } from '../core/infra/errors';
import type { TombstoneRelease } from '../core/sessions/ownershipLedger';

const kinds = ['id', 'name', 'path', 'uri'];

/** The body of a tombstone release, or what is wrong with it. */
function tombstoneRelease(body: unknown): TombstoneRelease | string {
  const usage = 'Body must be {"session": "<ended session id>"}, {"upstream": "<id>", "kind": "id|name|path|uri", "id": "<canonical form, as /admin/state lists it>"} or {"all": true}';
  if (!body || typeof body !== 'object' || Array.isArray(body)) return usage;
  const { session, upstream, kind, id, all } = body as Record<string, unknown>;
  if (all === true) return { all: true };
  if (typeof session === 'string' && session) return { session };
  if (typeof upstream === 'string' && typeof kind === 'string' && kinds.includes(kind) && typeof id === 'string' && id) {
    return { upstream, kind: kind as 'id', canonical: id };
  }
  return usage;
}

/** Smallest gap between two state events on `/admin/events`: a busy hub changes state on every call. */
const eventMinIntervalMs = 200;
/** The gap grows to this many times what the last event cost, so a huge state takes at most ~1/11 of the CPU. */
const eventCostFactor = 10;
const keepAliveMs = 15_000;

/**
 * The admin API the VS Code views and scripts use, on routes that take the admin token only:
 * `GET /admin/state`, `GET /admin/events` (SSE, event `state` with the whole state, coalesced),
 * `DELETE /admin/sessions/{id}`, `DELETE /admin/sessions`, `POST /admin/upstreams/{id}/restart`,
 * `POST /admin/upstreams/{id}/login` (the URL to sign in), `POST /admin/upstreams/{id}/logout`,
 * `POST /admin/safe-mode`, `POST /admin/tombstones/release`. Anything else under `/admin` is the edge's 404, after the same
 * admin-token check, so no admin request reaches the MCP routes (which take the client token).
 */
export function adminRoutes(routes: RouteTable, hub: Hub, baseUrl: () => string): void {
  const state = () => ({ ...hub.state(), url: baseUrl() });

  routes.on('GET', '/admin/state', ({ res }) => sendJson(res, 200, state()));

  // One broadcaster for every subscriber: each state is built and serialised once, whatever
  // their number (see StateBroadcaster for why whole coalesced snapshots and not deltas).
  const events = new StateBroadcaster({
    build: state,
    onDidChange: hub.onDidChangeState,
    minIntervalMs: eventMinIntervalMs,
    costFactor: eventCostFactor,
    keepAliveMs,
    onError: (error) => hub.logger.error(`admin events: building the state failed: ${errorMessage(error)}`),
  });

  routes.on('GET', '/admin/events', ({ res }) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const subscription = events.subscribe(res);
    res.on('close', () => subscription.dispose());
  });

  routes.on('DELETE', '/admin/sessions', async ({ res }) => {
    const ended = await hub.sessions.endAll('ended from the admin API');
    sendJson(res, 200, { ended });
  });

  routes.on('DELETE', '/admin/sessions/:id', async ({ res, params }) => {
    const id = params.id ?? '';
    const ended = await hub.sessions.end(id, 'ended from the admin API');
    if (!ended) {
      sendJsonRpcError(res, 404, RpcErrorCode.ConnectionNotFound, `No session or connection '${id}'`);
      return;
    }
    res.writeHead(204).end();
  });

  routes.on('POST', '/admin/safe-mode', ({ res, body }) => {
    const { enabled, upstream } = (body ?? {}) as { enabled?: unknown; upstream?: unknown };
    if (typeof enabled !== 'boolean' || (upstream !== undefined && typeof upstream !== 'string')) {
      sendJsonRpcError(res, 400, RpcErrorCode.InvalidParams, 'Body must be {"enabled": true|false, "upstream"?: "<id>"}');
      return;
    }
    if (!hub.setSafeMode(enabled, upstream)) {
      sendJsonRpcError(res, 404, RpcErrorCode.Refused, `No upstream '${String(upstream)}'`);
      return;
    }
    sendJson(res, 200, { enabled, upstream: upstream ?? null });
  });

  // A human frees what ended sessions owned: `{"session": id}`, `{"upstream", "kind", "id"}` or `{"all": true}`.
  routes.on('POST', '/admin/tombstones/release', async ({ res, body }) => {
    const which = tombstoneRelease(body);
    if (typeof which === 'string') {
      sendJsonRpcError(res, 400, RpcErrorCode.InvalidParams, which);
      return;
    }
    try {
      sendJson(res, 200, { released: await hub.releaseTombstones(which) });
    } catch (error) {
      sendJsonRpcError(res, 503, RpcErrorCode.Refused, `Could not release: ${errorMessage(error)}`);
    }
  });

  routes.on('POST', '/admin/upstreams/:id/login', async ({ res, params }) => {
    const id = params.id ?? '';
    let result: Awaited<ReturnType<Hub['signIn']>>;
    try {
      result = await hub.signIn(id);
    } catch (error) {
      sendJsonRpcError(res, 409, RpcErrorCode.Refused, `Cannot sign in to '${id}': ${errorMessage(error)}`);
      return;
    }
    if (!result) {
      sendJsonRpcError(res, 404, RpcErrorCode.Refused, `No upstream '${id}'`);
      return;
    }
    sendJson(res, 200, { upstream: id, ...result });
  });

  routes.on('POST', '/admin/upstreams/:id/logout', async ({ res, params }) => {
    const id = params.id ?? '';
    if (!(await hub.signOut(id))) {
      sendJsonRpcError(res, 404, RpcErrorCode.Refused, `No upstream '${id}' that signs in with OAuth`);
      return;
    }
    sendJson(res, 200, { upstream: id, signedOut: true });
  });

  routes.on('POST', '/admin/upstreams/:id/restart', async ({ res, params }) => {
    const id = params.id ?? '';
    if (!(await hub.restartUpstream(id))) {
      sendJsonRpcError(res, 404, RpcErrorCode.Refused, `No upstream '${id}'`);
      return;
    }
    sendJson(res, 202, { restarted: id });
  });
}
