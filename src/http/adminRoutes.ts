import { Router, type Response } from 'express';
import type { Hub } from '../hub/hub';
import { sendJsonRpcError } from './security';

/** Smallest gap between two state events on `/admin/events`: a busy hub changes state on every call. */
const eventThrottleMs = 200;
const keepAliveMs = 15_000;

/**
 * The admin API the VS Code views and scripts use, mounted at `/admin` behind the admin token:
 * `GET /admin/state`, `GET /admin/events` (SSE, event `state` with the whole state),
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

  router.get('/events', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = () => writeEvent(res, 'state', state());
    send();
    let timer: NodeJS.Timeout | undefined;
    let lastSent = Date.now();
    const subscription = hub.onDidChangeState(() => {
      if (timer) return;
      const wait = Math.max(0, eventThrottleMs - (Date.now() - lastSent));
      timer = setTimeout(() => {
        timer = undefined;
        lastSent = Date.now();
        send();
      }, wait);
    });
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs);
    req.on('close', () => {
      subscription.dispose();
      clearTimeout(timer);
      clearInterval(keepAlive);
    });
  });

  router.delete('/sessions', async (_req, res) => {
    const ended = await hub.sessions.endAll('ended from the admin API');
    res.json({ ended });
  });

  router.delete('/sessions/:id', async (req, res) => {
    const ended = await hub.sessions.end(req.params.id, 'ended from the admin API');
    if (!ended) {
      sendJsonRpcError(res, 404, -32001, `No session or connection '${req.params.id}'`);
      return;
    }
    res.status(204).end();
  });

  router.post('/safe-mode', (req, res) => {
    const body = (req.body ?? {}) as { enabled?: unknown; upstream?: unknown };
    if (typeof body.enabled !== 'boolean' || (body.upstream !== undefined && typeof body.upstream !== 'string')) {
      sendJsonRpcError(res, 400, -32602, 'Body must be {"enabled": true|false, "upstream"?: "<id>"}');
      return;
    }
    if (!hub.setSafeMode(body.enabled, body.upstream)) {
      sendJsonRpcError(res, 404, -32000, `No upstream '${String(body.upstream)}'`);
      return;
    }
    res.json({ enabled: body.enabled, upstream: body.upstream ?? null });
  });

  router.post('/upstreams/:id/restart', async (req, res) => {
    const restarted = await hub.restartUpstream(req.params.id);
    if (!restarted) {
      sendJsonRpcError(res, 404, -32000, `No upstream '${req.params.id}'`);
      return;
    }
    res.status(202).json({ restarted: req.params.id });
  });

  router.use((req, res) => {
    sendJsonRpcError(res, 404, -32000, `Not found: ${req.method} ${req.baseUrl}${req.path}`);
  });

  return router;
}

function writeEvent(res: Response, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
