import type { HubState } from '../client/adminClient';

/**
 * The hub as a tree, independent of VS Code: the tree view maps each node to a `TreeItem`.
 * `contextValue` drives the menus (`view/item/context` when clauses); `id` is stable across
 * refreshes so VS Code keeps what the user expanded.
 */
export type TreeNode = {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  contextValue: string;
  /** A codicon name. */
  icon?: string;
  children?: TreeNode[];
  /** What a command on this node acts on: a session, connection, upstream or virtual server id. */
  target?: string;
  /** Set on a virtual server's tools: whether it exposes the tool (the tree shows a checkbox). */
  checked?: boolean;
  /** The tool a checkbox stands for, in its upstream's own name. */
  tool?: { upstream: string; name: string };
};

/** Copilot sends a model at most this many tools per request; a virtual server past it loses some. */
export const maxToolsPerRequest = 128;

export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${minutes % 60}m`;
}

const leaf = (id: string, label: string, contextValue: string, icon: string, extra: Partial<TreeNode> = {}): TreeNode => ({ id, label, contextValue, icon, ...extra });

/** Three roots: Virtual Servers, Sessions, Upstreams; a fourth while ended sessions still own things. */
export function buildTree(state: HubState, now = Date.now()): TreeNode[] {
  const virtualServers: TreeNode = {
    id: 'virtualServers',
    label: 'Virtual Servers',
    contextValue: 'group',
    icon: 'server-environment',
    description: String(state.virtualServers.length + 1),
    children: [
      scopeNode('global', 'Global endpoint', 'every upstream, prefixed names', state.global, undefined),
      ...state.virtualServers.map((vs) => virtualServerNode(vs)),
    ],
  };
  const sessions: TreeNode = {
    id: 'sessions',
    label: 'Sessions',
    contextValue: 'group.sessions',
    icon: 'account',
    description: String(state.sessions.filter((session) => !session.chat).length),
    // Chat sessions show under the session of the connection their calls come on.
    children: state.sessions.filter((session) => !session.chat).map((session) => sessionNode(session, now, state.sessions.filter((chat) => chat.chat?.parent === session.id))),
  };
  const upstreams: TreeNode = {
    id: 'upstreams',
    label: 'Upstreams',
    contextValue: 'group',
    icon: 'plug',
    description: String(state.upstreams.length),
    children: state.upstreams.map((upstream) => ({
      id: `upstream:${upstream.id}`,
      label: upstream.id,
      description: [upstream.state === 'needs-auth' ? 'needs sign-in' : upstream.state, upstream.perSession ? `per session: ${upstream.perSession.instances} running, ${upstream.perSession.spares} spare` : upstream.type].join(' · '),
      tooltip: upstream.signIn ? `needs sign-in: ${upstream.signIn.reason}` : upstream.lastError ? `${upstream.state}: ${upstream.lastError}` : `${upstream.type} upstream, ${upstream.state}${upstream.pid ? `, pid ${upstream.pid}` : ''}`,
      contextValue: upstream.state === 'failed' ? 'upstream.failed' : upstream.state === 'needs-auth' ? 'upstream.needsAuth' : upstream.type === 'stdio' ? 'upstream' : 'upstream.remote',
      icon: upstream.state === 'ready' ? 'pass' : upstream.state === 'failed' ? 'error' : upstream.state === 'needs-auth' ? 'key' : 'loading~spin',
      target: upstream.id,
    })),
  };
  // Shown only while some ended session still owns something: each is refused to every session until released.
  const tombstones: TreeNode[] = state.tombstones.length === 0 ? [] : [{
    id: 'tombstones',
    label: "Ended sessions' things",
    contextValue: 'group.tombstones',
    icon: 'lock',
    description: String(state.tombstones.reduce((total, tombstone) => total + tombstone.owned.length, 0)),
    tooltip: 'What ended sessions owned stays refused to every session until you release it',
    children: state.tombstones.map((tombstone) => ({
      id: `tombstone:${tombstone.session}`,
      label: tombstone.session,
      description: `ended ${formatAge(now - tombstone.endedAt)} ago · ${tombstone.reason}`,
      contextValue: 'tombstone',
      icon: 'history',
      target: tombstone.session,
      children: tombstone.owned.map((owned) =>
        leaf(`tombstone:${tombstone.session}/${owned.upstream}/${owned.kind}/${owned.canonical}`, owned.id, 'tombstone.id', identifierIcons[owned.kind], {
          description: `${owned.kind} · ${owned.upstream} · ${owned.tool}`,
          target: JSON.stringify({ upstream: owned.upstream, kind: owned.kind, id: owned.canonical }),
        }),
      ),
    })),
  }];
  // Said only when safe mode cannot trust its ledger: every judged call is refused until it is fixed.
  const storeProblem: TreeNode[] = state.ownership.problem
    ? [{ id: 'ownership-problem', label: 'Ownership store unusable', description: state.ownership.store, tooltip: state.ownership.problem, contextValue: 'status', icon: 'error' }]
    : [];
  return [...storeProblem, virtualServers, sessions, upstreams, ...tombstones];
}

function scopeNode(id: string, label: string, description: string, scope: HubState['global'], virtualServer: string | undefined): TreeNode {
  const group = (kind: string, items: string[], icon: string): TreeNode => ({
    id: `${id}/${kind}`,
    label: kind,
    description: String(items.length),
    contextValue: 'group',
    icon,
    children: items.map((item) => leaf(`${id}/${kind}/${item}`, item, kind.slice(0, -1).toLowerCase(), icon)),
  });
  return {
    id,
    label,
    description,
    tooltip: `${scope.endpoints.streamableHttp} (Streamable HTTP), ${scope.endpoints.sse} (SSE)${scope.problems.length ? `\nproblems: ${scope.problems.join('; ')}` : ''}`,
    contextValue: virtualServer === undefined ? 'endpoint.global' : 'virtualServer',
    icon: scope.problems.length ? 'warning' : 'server',
    target: virtualServer ?? '',
    children: [group('Tools', scope.tools, 'tools'), group('Resources', scope.resources, 'file'), group('Resource Templates', scope.resourceTemplates, 'file-code'), group('Prompts', scope.prompts, 'comment')],
  };
}

/**
 * A virtual server: its tool count in the label (a warning past what Copilot takes), and every
 * tool of its upstreams as a checkbox, checked when it is exposed.
 */
function virtualServerNode(vs: HubState['virtualServers'][number]): TreeNode {
  const id = `vs:${vs.id}`;
  const node = scopeNode(id, `${vs.title || vs.id} (${vs.tools.length} tool${vs.tools.length === 1 ? '' : 's'})`, vs.upstreams.join(', '), vs, vs.id);
  const tooMany = vs.tools.length > maxToolsPerRequest;
  const choices = vs.toolChoices ?? [];
  const tools: TreeNode = {
    id: `${id}/Tools`,
    label: 'Tools',
    description: `${vs.tools.length} of ${choices.length}`,
    contextValue: 'group',
    icon: 'tools',
    children: choices.map((choice) =>
      leaf(`${id}/Tools/${choice.upstream}/${choice.name}`, choice.name, 'toolChoice', 'tools', {
        description: choice.upstream,
        checked: choice.selected,
        tool: { upstream: choice.upstream, name: choice.name },
        target: vs.id,
      }),
    ),
  };
  return {
    ...node,
    icon: tooMany ? 'warning' : node.icon,
    tooltip: tooMany ? `${vs.tools.length} tools: Copilot sends at most ${maxToolsPerRequest} per request, so some would be dropped; uncheck the ones this server does not need.\n${node.tooltip}` : node.tooltip,
    children: [tools, ...(node.children ?? []).filter((child) => child.label !== 'Tools')],
  };
}

function sessionNode(session: HubState['sessions'][number], now: number, chats: HubState['sessions'] = []): TreeNode {
  const first = session.connections[0];
  const who = first?.client ? `${first.client.name} ${first.client.version}` : 'unknown client';
  const servers = [...new Set(session.connections.map((c) => c.virtualServer ?? 'global'))].join(', ');
  const children: TreeNode[] = [
    ...session.connections.map((c) =>
      leaf(`session:${session.id}/conn:${c.id}`, `${c.transport} · ${c.virtualServer ?? 'global'}`, 'connection', 'plug', {
        description: `${c.calls} calls${c.errors ? `, ${c.errors} errors` : ''}${c.averageLatencyMs !== null ? `, ${c.averageLatencyMs} ms avg` : ''}`,
        target: c.id,
      }),
    ),
    ...session.instances.map((i) =>
      leaf(`session:${session.id}/instance:${i.upstream}`, `${i.upstream} instance`, 'instance', 'vm', {
        description: `${i.state}${i.pid ? ` · pid ${i.pid}` : ''} · used ${formatAge(now - i.lastUsedAt)} ago`,
        tooltip: i.lastError,
        target: i.upstream,
      }),
    ),
    ...listGroup(`session:${session.id}/owned`, 'Owned ids (safe mode)', 'shield', session.ownedIds, (o) =>
      leaf(`session:${session.id}/owned/${o.upstream}/${o.kind}/${o.id}`, o.id, 'ownedId', identifierIcons[o.kind], { description: `${o.kind} · ${o.upstream} · ${o.tool}` }),
    ),
    ...listGroup(`session:${session.id}/decisions`, 'Safe-mode decisions', 'law', session.safeModeDecisions, (d, index) =>
      leaf(`session:${session.id}/decision/${d.at}/${index}`, `${d.outcome} · ${d.tool}`, 'decision', decisionIcons[d.outcome], {
        description: `${d.identifiers.join(', ') || 'nothing recognised'} · ${formatAge(now - d.at)} ago`,
        tooltip: `${d.upstream}/${d.tool}, call digest sha256:${d.digest.slice(0, 16)}${d.why ? `\n${d.why}` : ''}`,
      }),
    ),
    ...listGroup(`session:${session.id}/calls`, 'Recent calls', 'history', session.recentCalls ?? [], (call) =>
      leaf(`session:${session.id}/call/${call.seq}`, `${call.outcome} · ${call.tool ?? '?'}`, 'recentCall', callIcon(call.outcome), {
        description: `${call.upstream ?? ''}${call.latencyMs === undefined ? '' : ` · ${Math.round(call.latencyMs)} ms`} · ${formatAge(now - Date.parse(call.at))} ago`,
        tooltip: [
          `${call.method ?? 'call'} ${call.upstream ?? ''}/${call.tool ?? ''}: ${call.outcome}`,
          ...(call.args === undefined ? [] : [`arguments: ${typeof call.args === 'string' ? call.args : JSON.stringify(call.args)}`]),
          ...(call.detail ? [call.detail] : []),
          ...(call.digest ? [`call digest sha256:${call.digest.slice(0, 16)}`] : []),
          ...(call.traceId ? [`trace ${call.traceId}`] : []),
        ].join('\n'),
      }),
    ),
  ];
  children.push(...chats.map((chat) => chatNode(chat, now)));
  return {
    id: `session:${session.id}`,
    label: who,
    description: `${servers} · ${session.calls} calls · used ${formatAge(now - session.lastSeenAt)} ago`,
    tooltip: `session ${session.id}${session.joined ? ' (joined with X-MCP-Hub-Session)' : ''}, started ${formatAge(now - session.createdAt)} ago`,
    contextValue: 'session',
    icon: 'account',
    target: session.id,
    children,
  };
}

/** A group node counting its items, or nothing when there are none. */
function listGroup<T>(id: string, label: string, icon: string, items: readonly T[], toNode: (item: T, index: number) => TreeNode): TreeNode[] {
  if (items.length === 0) return [];
  return [{ id, label, description: String(items.length), contextValue: 'group', icon, children: items.map(toNode) }];
}

const identifierIcons = { id: 'key', name: 'tag', path: 'folder', uri: 'link' } as const;
const decisionIcons = {
  allowed: 'pass',
  refused: 'circle-slash',
  'approved once': 'check',
  'approved for the session': 'check-all',
  denied: 'error',
  unanswered: 'question',
} as const;

/** A call's outcome as an icon: allowed, refused, approved, denied or failed. */
function callIcon(outcome: string): string {
  if (outcome === 'ok') return 'pass';
  if (outcome === 'refused') return 'circle-slash';
  if (outcome === 'asked→once' || outcome === 'asked→session') return 'check';
  if (outcome === 'asked→deny' || outcome === 'asked→timeout') return 'error';
  return 'warning';
}

/** A chat session: its instances and owned ids, with Kill like any session. */
function chatNode(chat: HubState['sessions'][number], now: number): TreeNode {
  const conversation = chat.chat?.conversationId ?? chat.id;
  const inner = sessionNode(chat, now);
  return {
    ...inner,
    label: `chat ${conversation.length > 12 ? `${conversation.slice(0, 12)}…` : conversation}`,
    description: `${chat.calls} calls · used ${formatAge(now - chat.lastSeenAt)} ago · started ${formatAge(now - chat.createdAt)} ago`,
    tooltip: `chat session ${conversation} (session ${chat.id})`,
    icon: 'comment-discussion',
  };
}
