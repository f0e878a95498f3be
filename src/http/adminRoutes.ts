import { Router } from 'express';
import { errorMessage } from '../core/logger';
import type { Hub } from '../hub/hub';
import { sendJsonRpcError } from './security';
import { StateBroadcaster } from './stateBroadcaster';
import { RpcErrorCode } from '../core/errors';

/** Smallest gap between two state events on `/admin/events`: a busy hub changes state on every call. */
const eventMinIntervalMs = 200;
/** The gap grows to this many times what the last event cost, so a huge state takes at most ~1/11 of the CPU. */
const eventCostFactor = 10;
const keepAliveMs = 15_000;

/**
 * The admin API the VS Code views and scripts use, mounted at `/admin` behind the admin token:
 * `GET /admin/state`, `GET /admin/events` (SSE, event `state` with the whole state, coalesced),
 * `DELETE /admin/sessions/{id}`, `DELETE /admin/sessions`, `POST /admin/upstreams/{id}/restart`,
 * `POST /admin/safe-mode`. Anything else under `/admin` is a 404 here, so no admin request
 * falls through to the MCP routes (which take the client token).
 */
export function adminRouter(hub: Hub, baseUrl: () => string): Router {
  const router = Router();
  const state = () => ({ ...hub.state(), url: baseUrl() });

  router.get('/state', (_req, res) => {
    res.json(state());
  });

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

  router.get('/events', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const subscription = events.subscribe(res);
    res.on('close', () => subscription.dispose());
  });

  router.delete('/sessions', async (_req, res) => {
    const ended = await hub.sessions.endAll('ended from the admin API');
    res.json({ ended });
  });

  router.delete('/sessions/:id', async (req, res) => {
    const ended = await hub.sessions.end(req.params.id, 'ended from the admin API');
    if (!ended) {
      sendJsonRpcError(res, 404, RpcErrorCode.ConnectionNotFound, `No session or connection '${req.params.id}'`);
      return;
    }
    res.status(204).end();
  });

  router.post('/safe-mode', (req, res) => {
    const body = (req.body ?? {}) as { enabled?: unknown; upstream?: unknown };
    if (typeof body.enabled !== 'boolean' || (body.upstream !== undefined && typeof body.upstream !== 'string')) {
      sendJsonRpcError(res, 400, RpcErrorCode.InvalidParams, 'Body must be {"enabled": true|false, "upstream"?: "<id>"}');
      return;
    }
    if (!hub.setSafeMode(body.enabled, body.upstream)) {
      sendJsonRpcError(res, 404, RpcErrorCode.Refused, `No upstream '${String(body.upstream)}'`);
      return;
    }
    res.json({ enabled: body.enabled, upstream: body.upstream ?? null });
  });

  router.post('/upstreams/:id/restart', async (req, res) => {
    const restarted = await hub.restartUpstream(req.params.id);
    if (!restarted) {
      sendJsonRpcError(res, 404, RpcErrorCode.Refused, `No upstream '${req.params.id}'`);
      return;
    }
    res.status(202).json({ restarted: req.params.id });
  });

  router.use((req, res) => {
    sendJsonRpcError(res, 404, RpcErrorCode.Refused, `Not found: ${req.method} ${req.baseUrl}${req.path}`);
  });

  return router;
}
