/**
 * Messages between the dashboard webview and the extension, typed once for both sides. No DOM
 * and no `vscode` here: the webview bundle and the extension both import this module.
 */
import type { DashboardView } from './dashboardModel';

/** Extension → webview. */
export type ToDashboard = { type: 'state'; view: DashboardView } | { type: 'disconnected'; reason: string } | { type: 'result'; message: string; ok: boolean };

/** Webview → extension. The webview sends `ready` first; nothing is sent to it before that. */
export type FromDashboard =
  | { type: 'ready' }
  | { type: 'killSession'; sessionId: string }
  | { type: 'killAllSessions' }
  | { type: 'releaseTombstone'; sessionId: string }
  | { type: 'releaseAllTombstones' }
  | { type: 'signIn'; upstream: string };

/** Messages from a webview are untrusted input: checked, never cast. */
export function parseFromDashboard(value: unknown): FromDashboard | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (message.type === 'ready' || message.type === 'killAllSessions' || message.type === 'releaseAllTombstones') return { type: message.type };
  if ((message.type === 'killSession' || message.type === 'releaseTombstone') && typeof message.sessionId === 'string' && message.sessionId.length > 0) {
    return { type: message.type, sessionId: message.sessionId };
  }
  if (message.type === 'signIn' && typeof message.upstream === 'string' && message.upstream.length > 0) return { type: 'signIn', upstream: message.upstream };
  return undefined;
}
