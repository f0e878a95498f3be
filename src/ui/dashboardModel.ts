import type { HubState } from '../client/adminClient';
import { formatAge } from './treeModel';

/** What the dashboard shows: plain data, rendered by the webview, built and tested here. */
export type DashboardView = {
  hub: { url: string; version: string; uptime: string; configSource: string; configError?: string; ownership: string; ownershipProblem?: string };
  sessions: {
    id: string;
    who: string;
    virtualServers: string;
    transports: string;
    calls: number;
    errors: number;
    averageLatencyMs: number | null;
    age: string;
    instances: string[];
    ownedIds: number;
    /** Set on a chat session's row, which follows its workspace session's row. */
    chatOf?: string;
  }[];
  upstreams: { id: string; type: string; state: string; detail: string; healthy: boolean; needsSignIn: boolean }[];
  /** Ended sessions that still own things: refused to every session until released. */
  tombstones: { session: string; ended: string; reason: string; owned: string[] }[];
};

export function buildDashboard(state: HubState, now = Date.now()): DashboardView {
  return {
    hub: {
      url: state.url,
      version: state.hub.version,
      uptime: formatAge(now - state.hub.startedAt),
      configSource: state.hub.configSource,
      ...(state.hub.configError ? { configError: state.hub.configError.message } : {}),
      ownership: `ownership in ${state.ownership.store}: ${state.ownership.owned} owned, ${state.ownership.tombstones} ended sessions`,
      ...(state.ownership.problem ? { ownershipProblem: state.ownership.problem } : {}),
    },
    // Each workspace session's row, then its chats' rows.
    sessions: state.sessions
      .filter((session) => !session.chat)
      .flatMap((session) => [session, ...state.sessions.filter((chat) => chat.chat?.parent === session.id)])
      .map((session) => {
      const { calls, errors, averageLatencyMs } = session;
      const client = session.connections.find((c) => c.client)?.client;
      return {
        id: session.id,
        who: session.chat ? `chat ${session.chat.conversationId}` : client ? `${client.name} ${client.version}` : 'unknown client',
        virtualServers: [...new Set(session.connections.map((c) => c.virtualServer ?? 'global'))].join(', '),
        transports: [...new Set(session.connections.map((c) => c.transport))].join(', '),
        calls,
        errors,
        averageLatencyMs,
        age: formatAge(now - session.createdAt),
        instances: session.instances.map((i) => `${i.upstream}: ${i.state}${i.pid ? ` (pid ${i.pid})` : ''}`),
        ownedIds: session.ownedIds.length,
        ...(session.chat ? { chatOf: session.chat.parent } : {}),
      };
    }),
    upstreams: state.upstreams.map((u) => ({
      id: u.id,
      type: u.perSession ? `${u.type}, per session` : u.type,
      state: u.state,
      detail: u.signIn ? `needs sign-in: ${u.signIn.reason}` : u.lastError ?? (u.perSession ? `${u.perSession.instances} instances, ${u.perSession.spares} spares, max ${u.perSession.maxInstances}` : `${u.counts.tools} tools`),
      healthy: u.state === 'ready',
      needsSignIn: u.state === 'needs-auth',
    })),
    tombstones: state.tombstones.map((tombstone) => ({
      session: tombstone.session,
      ended: `${formatAge(now - tombstone.endedAt)} ago`,
      reason: tombstone.reason,
      owned: tombstone.owned.map((owned) => `${owned.kind} ${owned.id} (${owned.upstream})`),
    })),
  };
}
