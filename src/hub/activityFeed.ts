import type { ActivityLog } from '../core/infra/activity';
import type { Disposable } from '../core/infra/lifecycle';
import type { LogicalSession, SessionEvent } from '../core/sessions/sessions';
import type { UpstreamStatus } from '../upstream/upstreamConnection';
import type { Telemetry } from './telemetry';

/** The records of a session or chat starting or ending. */
export function recordSessionEvent(activity: ActivityLog, telemetry: Telemetry, event: SessionEvent): void {
  // A chat session says it started; a connection's own session starts with its first connection.
  const opened = event.type === 'connection-opened' && event.connection.session.connections.size === 1 && event.connection.session.createdAt === event.connection.createdAt;
  if (event.type !== 'session-started' && event.type !== 'session-ended' && !opened) return;
  const session = event.type === 'connection-opened' ? event.connection.session : event.session;
  const ended = event.type === 'session-ended';
  if (ended) telemetry.sessionEnded(Date.now() - session.createdAt);
  activity.add({
    kind: session.parent ? 'chat' : 'session',
    session: session.id,
    ...(session.conversationId === undefined ? {} : { chat: session.conversationId }),
    ...clientOf(session),
    outcome: ended ? 'ended' : 'started',
    ...(ended ? { detail: event.reason } : {}),
  });
}

function clientOf(session: LogicalSession): { client?: string; connection?: string } {
  const [connection] = session.reachableConnections.values();
  if (!connection) return {};
  return { connection: connection.id, ...(connection.client ? { client: connection.client.name } : {}) };
}

/**
 * Records an upstream's state whenever it changes (ready, failed, needs-auth, stopped, starting
 * again), with why; the same state twice in a row is recorded once.
 */
export function followUpstream(activity: ActivityLog, upstream: string, onDidChangeStatus: (listener: () => void) => Disposable, status: () => UpstreamStatus): Disposable {
  let last = status().state;
  return onDidChangeStatus(() => {
    const now = status();
    if (now.state === last) return;
    last = now.state;
    activity.add({ kind: 'upstream', upstream, outcome: now.state, ...(now.lastError ? { detail: now.lastError } : {}) });
  });
}
