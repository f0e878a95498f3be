import { matchesActivity, type ActivityFilter, type ActivityRecord } from '../core/infra/activity';
import { errorMessage } from '../core/infra/logger';
import type { AuditTrail } from '../hub/auditTrail';
import type { Hub } from '../hub/hub';
import { sendJson, type RouteTable } from './edge';

/** A follower whose socket holds more than this is skipped until it drains; it is told how many it missed. */
const maxBufferedBytes = 1024 * 1024;
const keepAliveMs = 15_000;

/** What the audit trail reports about itself: where it writes, and what it could not. */
export type AuditStatus = { path: string; written: number; dropped: number; lastError?: string } | null;

function filterOf(query: Readonly<Record<string, string | string[] | undefined>>): ActivityFilter {
  const one = (name: string) => {
    const value = query[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const filter: ActivityFilter = {};
  for (const name of ['session', 'tool', 'outcome', 'upstream', 'kind'] as const) {
    const value = one(name);
    if (value) filter[name] = value;
  }
  return filter;
}

/**
 * The activity log over the admin API (admin token only):
 * - `GET /admin/activity[?after=SEQ&session=&tool=&outcome=&upstream=&kind=]`: the kept records, oldest first, and the audit trail's status;
 * - `GET /admin/activity?follow=1`: the same as Server-Sent Events (`event: activity`), then every new record as it happens;
 * - `GET /metrics`: Prometheus' text format.
 */
export function activityRoutes(routes: RouteTable, hub: Hub, audit: AuditTrail | undefined): void {
  const auditStatus = (): AuditStatus => (audit ? { path: audit.path, written: audit.written, dropped: audit.dropped, ...(audit.lastError ? { lastError: audit.lastError } : {}) } : null);

  routes.on('GET', '/admin/activity', ({ req, res, query }) => {
    const filter = filterOf(query);
    const after = Number(Array.isArray(query.after) ? query.after[0] : query.after) || 0;
    const follow = query.follow !== undefined || String(req.headers.accept ?? '').includes('text/event-stream');
    const backlog = hub.activity.records(after).filter((record) => matchesActivity(record, filter));
    if (!follow) {
      sendJson(res, 200, { records: backlog, audit: auditStatus() });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let missed = 0;
    const send = (record: ActivityRecord) => {
      if (res.destroyed || res.writableEnded) return;
      if (res.writableLength > maxBufferedBytes) {
        missed++;
        return;
      }
      if (missed > 0) {
        res.write(`event: missed\ndata: ${JSON.stringify({ count: missed })}\n\n`);
        missed = 0;
      }
      res.write(`id: ${record.seq}\nevent: activity\ndata: ${JSON.stringify(record)}\n\n`);
    };
    res.write(`event: audit\ndata: ${JSON.stringify(auditStatus())}\n\n`);
    for (const record of backlog) send(record);
    const subscription = hub.activity.onDidAdd((record) => {
      if (matchesActivity(record, filter)) send(record);
    });
    const keepAlive = setInterval(() => {
      if (!res.destroyed) res.write(': keep-alive\n\n');
    }, keepAliveMs);
    res.on('close', () => {
      subscription.dispose();
      clearInterval(keepAlive);
    });
  });

  routes.on('GET', '/metrics', async ({ res }) => {
    try {
      const { contentType, body } = await hub.metrics.text();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
    } catch (error) {
      hub.logger.error(`metrics: ${errorMessage(error)}`);
      res.writeHead(500).end();
    }
  });
}
