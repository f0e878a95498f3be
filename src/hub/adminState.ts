import type { ActivityRecord } from '../core/infra/activity';
import type { Ownership, OwnershipLedger } from '../core/sessions/ownershipLedger';
import type { SafeModeDecision } from '../core/sessions/safeMode';
import type { ScopedCatalog } from '../core/scoping/catalog';
import type { HubConfig } from '../core/config/config';
import type { LogicalSession } from '../core/sessions/sessions';
import type { UpstreamConnection, UpstreamState } from '../upstream/upstreamConnection';
import type { InstanceInfo, InstancePool } from './instancePool';

/**
 * The JSON that `GET /admin/state` answers and `/admin/events` streams. The VS Code views and
 * scripts read it; README documents it. Times are ms since the epoch.
 */
export type AdminState = {
  hub: {
    version: string;
    startedAt: number;
    configSource: string;
    /** The last config that failed to load; the hub kept the one before it. */
    configError?: { at: number; message: string };
  };
  upstreams: UpstreamSummary[];
  /** The global endpoint's catalog: everything, prefixed. */
  global: ScopeState;
  virtualServers: (ScopeState & {
    id: string;
    title: string;
    description?: string;
    upstreams: string[];
    naming: string;
    /**
     * Every tool its upstreams offer, whether this virtual server exposes it or not: what the
     * tree shows as checkboxes (a config edit turns one on or off).
     */
    toolChoices: ToolChoice[];
  })[];
  sessions: SessionState[];
  /** Ended sessions' ownership: refused to every session until released (admin API, tree, dashboard). */
  tombstones: TombstoneState[];
  /** Where ownership is kept, whether safe mode can trust it, and how much it holds. */
  ownership: { store: string; problem?: string; owned: number; tombstones: number };
};

export type ToolChoice = { upstream: string; name: string; selected: boolean };

/** The tools of a virtual server's upstreams, each marked with whether its scope routes it. */
function toolChoices(upstreams: readonly string[], scope: ScopedCatalog | undefined, catalogOf: (upstream: string) => { tools: { name: string }[] } | undefined): ToolChoice[] {
  const routed = new Set((scope?.tools ?? []).map((tool) => scope?.resolveTool(tool.name)).map((route) => (route ? `${route.upstream}/${route.name}` : '')));
  return upstreams.flatMap((upstream) => (catalogOf(upstream)?.tools ?? []).map((tool) => ({ upstream, name: tool.name, selected: routed.has(`${upstream}/${tool.name}`) })));
}

type UpstreamSummary = {
  id: string;
  type: 'stdio' | 'http' | 'sse';
  /**
   * Set for a per-session upstream: its policy and how many session instances and warm spares
   * run. The upstream's own state, pid and counts are then those of its probe instance, which
   * lists the catalog and serves no session.
   */
  perSession: { warm: number; maxInstances: number; idleTimeoutMs: number; instances: number; spares: number; readySpares: number } | null;
  /** Whether safe mode guards this upstream (a virtual server may still turn it off). */
  safeMode: boolean;
  state: UpstreamState;
  since: number;
  lastError?: string;
  failures: number;
  /** While failed: when the hub tries again (ms since epoch). */
  nextAttemptAt?: number;
  serverInfo?: { name: string; version: string };
  pid?: number;
  /** While `needs-auth`: why, and the URL that signs the hub in (POST /admin/upstreams/{id}/login starts one). Never a token. */
  signIn?: { reason: string; authorizationUrl?: string };
  counts: { tools: number; resources: number; resourceTemplates: number; prompts: number };
};

export type ScopeState = {
  endpoints: { streamableHttp: string; sse: string };
  tools: string[];
  resources: string[];
  resourceTemplates: string[];
  prompts: string[];
  problems: string[];
};

export type SessionState = {
  /** `key:<X-MCP-Hub-Session>` for a keyed session, the connection id for an implicit one. */
  id: string;
  /** The `X-MCP-Hub-Session` value, for a keyed session. */
  key?: string;
  /** For a chat session: the session of the connection its calls come on, and its conversation id. */
  chat?: { parent: string; conversationId: string };
  joined: boolean;
  createdAt: number;
  lastSeenAt: number;
  calls: number;
  /** Of `calls`: how many failed or were refused, and their mean time (a chat's own; a workspace's, its chats' included). */
  errors: number;
  averageLatencyMs: number | null;
  connections: {
    id: string;
    transport: string;
    virtualServer: string | null;
    client: { name: string; version: string } | null;
    createdAt: number;
    lastSeenAt: number;
    calls: number;
    errors: number;
    averageLatencyMs: number | null;
    /** Bytes written to the client and not yet read by it (bounded by hub.maxQueuedBytesPerConnection). */
    queuedBytes: number;
    /** Logs dropped and progress coalesced because the client did not read. */
    droppedMessages: number;
  }[];
  /** This session's own instances of per-session upstreams. */
  instances: InstanceInfo[];
  /** What this session created (ids, names, paths, URIs), that safe mode lets it modify or delete. */
  ownedIds: Ownership[];
  /** How safe mode answered this session's calls that touched something, newest first (at most 50). */
  safeModeDecisions: readonly SafeModeDecision[];
  /** Its last calls, newest first (see `GET /admin/activity` for all of them). */
  recentCalls?: readonly ActivityRecord[];
};

/** What an ended session still owns: refused to every session until a human releases it. */
export type TombstoneState = { session: string; endedAt: number; reason: string; owned: Ownership[] };

function endpointsOf(virtualServer: string | undefined): ScopeState['endpoints'] {
  const base = virtualServer === undefined ? '' : `/servers/${encodeURIComponent(virtualServer)}`;
  return { streamableHttp: `${base}/mcp`, sse: `${base}/sse` };
}

function scopeState(scope: ScopedCatalog | undefined, virtualServer: string | undefined): ScopeState {
  return {
    endpoints: endpointsOf(virtualServer),
    tools: scope?.tools.map((t) => t.name) ?? [],
    resources: scope?.resources.map((r) => r.uri) ?? [],
    resourceTemplates: scope?.resourceTemplates.map((t) => t.uriTemplate) ?? [],
    prompts: scope?.prompts.map((p) => p.name) ?? [],
    problems: scope?.problems ?? [],
  };
}

export function buildAdminState(input: {
  startedAt: number;
  version: string;
  configSource: string;
  configError?: { at: number; message: string };
  config: HubConfig;
  upstreams: UpstreamConnection[];
  scope: (virtualServer: string | undefined) => ScopedCatalog | undefined;
  sessions: LogicalSession[];
  tombstones: readonly OwnershipLedger[];
  ownership: { store: string; problem: string | undefined; owned: number };
  safeMode: (upstream: string) => boolean;
  pools: ReadonlyMap<string, InstancePool>;
  recentCalls?: (sessionId: string) => readonly ActivityRecord[];
}): AdminState {
  return {
    hub: {
      version: input.version,
      startedAt: input.startedAt,
      configSource: input.configSource,
      ...(input.configError ? { configError: input.configError } : {}),
    },
    upstreams: input.upstreams.map((upstream) => {
      const { status, catalog, config } = upstream;
      return {
        id: upstream.id,
        type: config.type,
        perSession: perSessionSummary(input.pools.get(upstream.id)),
        safeMode: input.safeMode(upstream.id),
        state: status.state,
        since: status.since,
        ...(status.lastError ? { lastError: status.lastError } : {}),
        failures: status.failures,
        ...(status.nextAttemptAt !== undefined ? { nextAttemptAt: status.nextAttemptAt } : {}),
        ...(status.serverInfo ? { serverInfo: { name: status.serverInfo.name, version: status.serverInfo.version } } : {}),
        ...(status.pid ? { pid: status.pid } : {}),
        ...(status.state === 'needs-auth' && status.signIn ? { signIn: status.signIn } : {}),
        counts: {
          tools: catalog.tools.length,
          resources: catalog.resources.length,
          resourceTemplates: catalog.resourceTemplates.length,
          prompts: catalog.prompts.length,
        },
      };
    }),
    global: scopeState(input.scope(undefined), undefined),
    virtualServers: [...input.config.virtualServers.values()].map((vs) => ({
      id: vs.id,
      title: vs.title,
      ...(vs.description ? { description: vs.description } : {}),
      upstreams: vs.upstreams,
      naming: vs.naming,
      ...scopeState(input.scope(vs.id), vs.id),
      toolChoices: toolChoices(vs.upstreams, input.scope(vs.id), (id) => input.upstreams.find((upstream) => upstream.id === id)?.catalog),
    })),
    sessions: input.sessions.map((session) => ({
      id: session.id,
      ...(session.key !== undefined ? { key: session.key } : {}),
      ...(session.parent && session.conversationId !== undefined ? { chat: { parent: session.parent.id, conversationId: session.conversationId } } : {}),
      joined: session.joined,
      createdAt: session.createdAt,
      lastSeenAt: session.lastSeenAt,
      calls: session.calls,
      ...callFigures(session),
      connections: [...session.connections.values()].map((c) => ({
        id: c.id,
        transport: c.transport,
        virtualServer: c.virtualServer ?? null,
        client: c.client ?? null,
        createdAt: c.createdAt,
        lastSeenAt: c.lastSeenAt,
        calls: c.calls,
        errors: c.errors,
        averageLatencyMs: c.calls > 0 ? Math.round((c.totalLatencyMs / c.calls) * 100) / 100 : null,
        queuedBytes: c.edge.queuedBytes ?? 0,
        droppedMessages: c.edge.droppedMessages ?? 0,
      })),
      instances: [...input.pools.values()].flatMap((pool) => pool.describe(session.id) ?? []),
      ownedIds: session.ledger.entries,
      safeModeDecisions: session.safeModeDecisions.entries,
      ...(input.recentCalls ? { recentCalls: input.recentCalls(session.id) } : {}),
    })),
    tombstones: input.tombstones.map((ledger) => ({
      session: ledger.sessionId,
      endedAt: ledger.ending?.at ?? 0,
      reason: ledger.ending?.reason ?? '',
      owned: ledger.entries,
    })),
    ownership: {
      store: input.ownership.store,
      ...(input.ownership.problem ? { problem: input.ownership.problem } : {}),
      owned: input.ownership.owned,
      tombstones: input.tombstones.length,
    },
  };
}

function perSessionSummary(pool: InstancePool | undefined): UpstreamSummary['perSession'] {
  if (!pool) return null;
  return { ...pool.policy, ...pool.counts };
}

/** A session's errors and mean call time: its own calls (a chat's) and its connections' together. */
function callFigures(session: LogicalSession): { errors: number; averageLatencyMs: number | null } {
  let errors = session.ownErrors;
  let latencyMs = session.ownLatencyMs;
  for (const connection of session.connections.values()) {
    errors += connection.errors;
    latencyMs += connection.totalLatencyMs;
  }
  const { calls } = session;
  return { errors, averageLatencyMs: calls > 0 ? Math.round((latencyMs / calls) * 100) / 100 : null };
}
