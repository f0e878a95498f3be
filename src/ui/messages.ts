/**
 * Messages between the dashboard webview and the extension, typed once for both sides. No DOM
 * and no `vscode` here: the webview bundle and the extension both import this module.
 */
import type { ActivityDetail, ActivityQuery, ActivityView } from './activityView';
import type { DashboardView } from './dashboardModel';

/** Extension → webview. */
export type ToDashboard =
  | { type: 'state'; view: DashboardView }
  | { type: 'disconnected'; reason: string }
  | { type: 'result'; message: string; ok: boolean }
  /** The Activity view's visible page, sent on a query and as records arrive. */
  | { type: 'activity'; view: ActivityView }
  /** The record a row stands for; no details when the host no longer keeps it. */
  | { type: 'activityDetails'; seq: number; details: ActivityDetail[] };

/** Webview → extension. The webview sends `ready` first; nothing is sent to it before that. */
export type FromDashboard =
  | { type: 'ready' }
  | { type: 'killSession'; sessionId: string }
  | { type: 'killAllSessions' }
  | { type: 'releaseTombstone'; sessionId: string }
  | { type: 'releaseAllTombstones' }
  | { type: 'signIn'; upstream: string }
  /** The Activity view was opened, or its filters or page changed. */
  | { type: 'activityQuery'; query: ActivityQuery; page: number }
  | { type: 'activityDetails'; seq: number }
  /** Save the records the current query shows, every page, as JSON Lines. */
  | { type: 'exportActivity' };

const queryFields = ['kind', 'session', 'chat', 'upstream', 'tool', 'outcome', 'text'] as const;
const maxQueryChars = 500;

function parseQuery(value: unknown): ActivityQuery | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const query: ActivityQuery = {};
  for (const field of queryFields) {
    const item = (value as Record<string, unknown>)[field];
    if (item === undefined || item === '') continue;
    if (typeof item !== 'string' || item.length > maxQueryChars) return undefined;
    query[field] = item;
  }
  return query;
}

/** Messages from a webview are untrusted input: checked, never cast. */
export function parseFromDashboard(value: unknown): FromDashboard | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (message.type === 'ready' || message.type === 'killAllSessions' || message.type === 'releaseAllTombstones') return { type: message.type };
  if ((message.type === 'killSession' || message.type === 'releaseTombstone') && typeof message.sessionId === 'string' && message.sessionId.length > 0) {
    return { type: message.type, sessionId: message.sessionId };
  }
  if (message.type === 'signIn' && typeof message.upstream === 'string' && message.upstream.length > 0) return { type: 'signIn', upstream: message.upstream };
  if (message.type === 'activityQuery' && Number.isSafeInteger(message.page) && (message.page as number) >= 0) {
    const query = parseQuery(message.query);
    return query ? { type: 'activityQuery', query, page: message.page as number } : undefined;
  }
  if (message.type === 'activityDetails' && Number.isSafeInteger(message.seq)) return { type: 'activityDetails', seq: message.seq as number };
  if (message.type === 'exportActivity') return { type: 'exportActivity' };
  return undefined;
}
