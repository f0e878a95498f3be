import { matchesActivity, type ActivityRecord } from '../core/infra/activity';

/**
 * The dashboard's Activity view as plain data: filtering, paging, the rows and a record's details
 * are built here (and tested here), so the host only holds records and the page only renders.
 */

/** What the user narrowed the timeline to; an absent field does not filter. */
export type ActivityQuery = {
  /** `call`, `safe-mode`, `approval`, `session`, `chat` or `upstream`; absent: every kind. */
  kind?: string;
  /** A workspace (or client) session: its own records and its chats'. */
  session?: string;
  /** A chat's conversation id. */
  chat?: string;
  upstream?: string;
  tool?: string;
  outcome?: string;
  /** Case-insensitive, anywhere in the record's JSON text. */
  text?: string;
};

/** The timeline opens on calls: verdicts, approvals and session events are a filter away. */
export const defaultActivityQuery: ActivityQuery = { kind: 'call' };

export const activityPageSize = 100;

/** How an outcome is coloured: `ok` green, `bad` red, `asked` amber, `info` plain. */
export type OutcomeTone = 'ok' | 'bad' | 'asked' | 'info';

export type ActivityRow = { seq: number; time: string; who: string; what: string; outcome: string; tone: OutcomeTone; latency: string };

/** A choice in one of the filter menus. */
export type FilterOption = { value: string; label: string };

export type ActivityView = {
  rows: ActivityRow[];
  /** 0-based; `pages` is at least 1. */
  page: number;
  pages: number;
  pageSize: number;
  /** Records that pass the query, and records the host keeps. */
  matched: number;
  kept: number;
  query: ActivityQuery;
  options: { kind: FilterOption[]; session: FilterOption[]; chat: FilterOption[]; upstream: FilterOption[]; tool: FilterOption[]; outcome: FilterOption[] };
};

/** One line of a record's details: a label and its text (multi-line for arguments); the outcome keeps its colour. */
export type ActivityDetail = { label: string; value: string; tone?: OutcomeTone };

/** A chat session's id is `<parent id>/chat:<conversation id>`: its workspace session is the part before. */
export function workspaceSessionOf(sessionId: string): string {
  const chat = sessionId.indexOf('/chat:');
  return chat < 0 ? sessionId : sessionId.slice(0, chat);
}

/** Whether a record passes the query. */
export function matchesQuery(record: ActivityRecord, query: ActivityQuery): boolean {
  if (!matchesActivity(record, { ...(query.kind ? { kind: query.kind } : {}), ...(query.upstream ? { upstream: query.upstream } : {}), ...(query.tool ? { tool: query.tool } : {}), ...(query.outcome ? { outcome: query.outcome } : {}) })) return false;
  if (query.session && (!record.session || workspaceSessionOf(record.session) !== query.session)) return false;
  if (query.chat && record.chat !== query.chat) return false;
  if (query.text && !JSON.stringify(record).toLowerCase().includes(query.text.toLowerCase())) return false;
  return true;
}

/** The records that pass the query, newest first. */
export function filterActivity(records: readonly ActivityRecord[], query: ActivityQuery): ActivityRecord[] {
  const out: ActivityRecord[] = [];
  for (let i = records.length - 1; i >= 0; i--) if (matchesQuery(records[i], query)) out.push(records[i]);
  return out;
}

/** `14:03:07.120`, in the viewer's time zone. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

export function formatLatency(ms: number | undefined): string {
  if (ms === undefined) return '';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

export function outcomeTone(record: Pick<ActivityRecord, 'kind' | 'outcome'>): OutcomeTone {
  const outcome = record.outcome;
  if (/^(ok|allowed|started|ready|approved|once|session)\b/.test(outcome)) return 'ok';
  if (/^(error|refused|failed|deny|timeout|needs-auth)\b/.test(outcome) || outcome === 'asked→deny' || outcome === 'asked→timeout') return 'bad';
  // Asked and approved: a human let it through, which the colour keeps apart from plain `ok`.
  if (outcome.startsWith('asked')) return 'asked';
  return 'info';
}

/** As the tree names a chat: its conversation id's first 12 characters. */
export function chatLabel(conversationId: string): string {
  return `chat ${conversationId.length > 12 ? `${conversationId.slice(0, 12)}…` : conversationId}`;
}

/** A session by its key when it has one (`vscode:workspace-…`), else by its id's first 8 characters. */
export function sessionLabel(sessionId: string): string {
  return sessionId.startsWith('key:') ? sessionId.slice(4) : sessionId.slice(0, 8);
}

/** Who made it: the chat, else the client and the session. */
export function whoOf(record: ActivityRecord): string {
  if (record.chat) return chatLabel(record.chat);
  const session = record.session ? sessionLabel(workspaceSessionOf(record.session)) : '';
  return [record.client, session].filter(Boolean).join(' · ') || '–';
}

/** What it was about: the tool (with its upstream), prefixed by the kind unless a call. */
export function whatOf(record: ActivityRecord): string {
  const target = record.tool ? `${record.upstream ? `${record.upstream}/` : ''}${record.tool}` : (record.upstream ?? '');
  if (record.kind === 'call') return record.method && record.method !== 'tools/call' ? `${record.method} ${target}` : target;
  if (record.kind === 'safe-mode') return `safe mode · ${target}`;
  if (record.kind === 'approval') return `approval · ${target}`;
  if (record.kind === 'upstream') return `upstream ${target}`;
  return record.kind;
}

export function activityRow(record: ActivityRecord): ActivityRow {
  return { seq: record.seq, time: formatTime(record.at), who: whoOf(record), what: whatOf(record), outcome: record.outcome, tone: outcomeTone(record), latency: formatLatency(record.latencyMs) };
}

/** How far back a call's verdicts and approvals are looked for: they come just before its own record. */
const relatedLookBack = 200;

/**
 * The safe-mode verdicts and approval records a call met, oldest first: those of the same
 * connection and tool since that connection's previous call ended (a call's record is added when
 * it ends, after its verdict and approval).
 */
export function relatedRecords(records: readonly ActivityRecord[], call: ActivityRecord): ActivityRecord[] {
  if (call.kind !== 'call' || !call.connection) return [];
  let index = records.length - 1;
  while (index >= 0 && records[index].seq > call.seq) index--;
  if (records[index]?.seq !== call.seq) return [];
  const related: ActivityRecord[] = [];
  for (let i = index - 1; i >= 0 && i >= index - relatedLookBack; i--) {
    const record = records[i];
    if (record.connection !== call.connection) continue;
    if (record.kind === 'call') break;
    if ((record.kind === 'safe-mode' || record.kind === 'approval') && record.tool === call.tool) related.unshift(record);
  }
  return related;
}

/**
 * Every field the record carries, labelled, in the order a reader asks about them; for a call,
 * the verdicts and approval it met (`related`) too.
 */
export function activityDetails(record: ActivityRecord, related: readonly ActivityRecord[] = []): ActivityDetail[] {
  const details: ActivityDetail[] = [];
  const add = (label: string, value: string | undefined) => {
    if (value !== undefined && value !== '') details.push({ label, value });
  };
  add('Time', record.at);
  add('Kind', record.method ? `${record.kind} (${record.method})` : record.kind);
  details.push({ label: 'Outcome', value: record.outcome, tone: outcomeTone(record) });
  add('Latency', formatLatency(record.latencyMs));
  add('Session', record.session);
  add('Chat', record.chat);
  add('Client', record.client);
  add('Connection', record.connection);
  add('Virtual server', record.virtualServer);
  add('Upstream', record.upstream);
  add('Tool', record.tool);
  if (record.args !== undefined) add(record.argsTruncated ? 'Arguments (cut)' : 'Arguments', typeof record.args === 'string' ? record.args : JSON.stringify(record.args, null, 2));
  add('Result', record.result);
  add(record.kind === 'call' ? 'Detail' : 'Why', record.detail);
  for (const verdict of related.filter((r) => r.kind === 'safe-mode')) {
    // A refusal's why is the call's detail already.
    const why = verdict.detail && !record.detail?.includes(verdict.detail) ? `: ${verdict.detail}` : '';
    add('Safe mode', `${verdict.outcome}${why}`);
    if (verdict.identifiers?.length) add('Identifiers judged', verdict.identifiers.join('\n'));
  }
  const approvals = related.filter((r) => r.kind === 'approval').map((r) => r.outcome);
  if (approvals.length) add('Approval', approvals.join(' → '));
  if (record.identifiers?.length) add('Identifiers judged', record.identifiers.join('\n'));
  add('Call digest', record.digest && `sha256:${record.digest}`);
  add('Trace id', record.traceId);
  add('Sequence', String(record.seq));
  return details;
}

/** The records as JSON Lines, one record a line, as the audit file writes them. */
export function activityJsonl(records: readonly ActivityRecord[]): string {
  return records.map((record) => `${JSON.stringify(record)}\n`).join('');
}

const sorted = (values: Iterable<string>) => [...values].sort((a, b) => a.localeCompare(b));

/** The filter menus' choices: the values the kept records hold. */
export function filterOptions(records: readonly ActivityRecord[]): ActivityView['options'] {
  const kinds = new Set<string>();
  const sessions = new Map<string, string>();
  const chats = new Set<string>();
  const upstreams = new Set<string>();
  const tools = new Set<string>();
  const outcomes = new Set<string>();
  for (const record of records) {
    kinds.add(record.kind);
    if (record.session) {
      const id = workspaceSessionOf(record.session);
      // A chat's record names the chat's client; the session's own records name the window's.
      if (!record.chat || !sessions.has(id)) sessions.set(id, `${!record.chat && record.client ? `${record.client} · ` : ''}${sessionLabel(id)}`);
    }
    if (record.chat) chats.add(record.chat);
    if (record.upstream) upstreams.add(record.upstream);
    if (record.tool) tools.add(record.tool);
    outcomes.add(record.outcome);
  }
  return {
    kind: sorted(kinds).map((value) => ({ value, label: value })),
    session: [...sessions].sort((a, b) => a[1].localeCompare(b[1])).map(([value, label]) => ({ value, label })),
    chat: sorted(chats).map((value) => ({ value, label: chatLabel(value) })),
    upstream: sorted(upstreams).map((value) => ({ value, label: value })),
    tool: sorted(tools).map((value) => ({ value, label: value })),
    outcome: sorted(outcomes).map((value) => ({ value, label: value })),
  };
}

/**
 * One page of the filtered timeline, newest first: the page holds `activityPageSize` rows at most,
 * so the webview renders a hundred rows whatever the host keeps. A page past the end shows the last.
 */
export function buildActivityView(records: readonly ActivityRecord[], query: ActivityQuery, page: number): ActivityView {
  const matched = filterActivity(records, query);
  const pages = Math.max(1, Math.ceil(matched.length / activityPageSize));
  const shown = Math.min(Math.max(0, Math.floor(page)), pages - 1);
  return {
    rows: matched.slice(shown * activityPageSize, (shown + 1) * activityPageSize).map(activityRow),
    page: shown,
    pages,
    pageSize: activityPageSize,
    matched: matched.length,
    kept: records.length,
    query,
    options: filterOptions(records),
  };
}
