import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ActivityLog, ActivityRecord } from '../core/infra/activity';
import type { SafeModeDecision, SafeModeJournal } from '../core/sessions/safeMode';
import type { ApprovalAnswer } from '../core/sessions/safeModeGate';
import type { Connection, LogicalSession } from '../core/sessions/sessions';
import { errorTypeOf, type RequestTrace, type Telemetry } from './telemetry';

/** What a call record starts from: the request as the client sent it. */
export type CallStart = {
  method: 'tools/call' | 'resources/read' | 'prompts/get';
  /** The name the client used (tool, prompt) or the URI. */
  target: string;
  virtualServer: string | undefined;
  connection: Connection | undefined;
  requestId: string | number;
  meta: Record<string, unknown> | undefined;
  /** The request's HTTP headers, when the transport gave them (the `traceparent` header). */
  headers?: Record<string, string | string[] | undefined>;
};

const approvalOutcome: Record<ApprovalAnswer, string> = { once: 'asked→once', session: 'asked→session', deny: 'asked→deny', unanswered: 'asked→timeout' };

/**
 * One client request as it is handled: its SERVER span, the safe-mode decisions and approval it
 * met, and at the end its one activity record. Built where the call is handled (connectionServer)
 * and ended exactly once, whatever way the call ends.
 */
export class CallRecord {
  private readonly started = performance.now();
  private session?: LogicalSession;
  private upstream?: string;
  private tool?: string;
  private args?: unknown;
  private digest?: string;
  private approval?: ApprovalAnswer;
  private ended = false;
  readonly trace?: RequestTrace;

  constructor(
    private readonly activity: ActivityLog,
    private readonly telemetry: Telemetry,
    private readonly start: CallStart,
  ) {
    const header = start.headers?.traceparent;
    this.trace = telemetry.request({
      method: start.method,
      target: start.target,
      requestId: start.requestId,
      ...(start.connection ? { sessionId: start.connection.id, transport: start.connection.transport } : {}),
      traceparent: start.meta?.traceparent ?? (Array.isArray(header) ? header[0] : header),
    });
  }

  /** Where the call goes, once resolved. */
  routed(upstream: string, tool: string, args: unknown, session: LogicalSession): void {
    this.upstream = upstream;
    this.tool = tool;
    this.args = args;
    this.session = session;
  }

  /** A journal that keeps the session's and makes a `safe-mode` record of each decision, with what it judged. */
  journal(sessionJournal: SafeModeJournal): Pick<SafeModeJournal, 'add'> {
    return {
      add: (decision: SafeModeDecision) => {
        sessionJournal.add(decision);
        this.digest = decision.digest;
        this.telemetry.safeModeDecision(decision.outcome);
        this.activity.add({
          ...this.who(),
          kind: 'safe-mode',
          outcome: decision.outcome,
          identifiers: decision.identifiers.map((identifier) => this.activity.redactor.scrub(identifier, this.args)),
          digest: decision.digest,
          ...(decision.why ? { detail: this.activity.redactor.scrub(decision.why, this.args) } : {}),
        });
      },
    };
  }

  /** An approval request is about to be sent to the client's human. */
  asking(digest: string): void {
    this.digest = digest;
    this.activity.add({ ...this.who(), kind: 'approval', outcome: 'asked', digest });
  }

  /** The human's answer (undefined: the client cannot be asked). */
  answered(answer: ApprovalAnswer | undefined): void {
    if (answer === undefined) return;
    this.approval = answer;
    this.activity.add({ ...this.who(), kind: 'approval', outcome: answer === 'unanswered' ? 'timeout' : answer, ...(this.digest ? { digest: this.digest } : {}) });
  }

  /** The call ended with a result (`refusal`: safe mode refused it and this is the refusal). */
  succeeded(result: unknown, refusal = false): void {
    const isError = (result as CallToolResult | undefined)?.isError === true;
    let outcome: string;
    if (refusal) outcome = this.approval && this.approval !== 'once' && this.approval !== 'session' ? approvalOutcome[this.approval] : 'refused';
    // An approved call keeps its approval as its outcome, even when the tool then failed (the detail says so).
    else if (this.approval) outcome = approvalOutcome[this.approval];
    else outcome = isError ? 'error' : 'ok';
    const text = refusal || isError ? firstText(result) : undefined;
    const summary = summarize(result);
    this.finish(outcome, { ...(text ? { detail: text } : {}), ...(summary ? { result: isError ? `error: ${summary}` : summary } : {}) }, refusal ? 'refused' : isError ? 'tool_error' : undefined);
  }

  failed(error: unknown): void {
    this.finish('error', { detail: error instanceof Error ? error.message : String(error) }, errorTypeOf(error));
  }

  private finish(outcome: string, extra: Partial<ActivityRecord>, errorType: string | undefined): void {
    if (this.ended) return;
    this.ended = true;
    if (extra.detail !== undefined) extra.detail = this.activity.redactor.scrub(extra.detail, this.args);
    this.trace?.end(errorType);
    // Filled in place rather than spread together: this runs on every call.
    const record = this.who();
    record.method = this.start.method;
    const { args, argsTruncated } = this.activity.redactor.arguments(this.args);
    if (args !== undefined) record.args = args;
    if (argsTruncated) record.argsTruncated = true;
    if (this.digest) record.digest = this.digest;
    record.latencyMs = Math.round((performance.now() - this.started) * 1000) / 1000;
    if (extra.detail !== undefined) record.detail = extra.detail;
    if (extra.result !== undefined) record.result = extra.result;
    this.activity.add({ kind: 'call', outcome, ...record });
  }

  /** Who made the call and where it went: the fields every record of the call starts with. */
  private who(): Omit<ActivityRecord, 'seq' | 'at' | 'kind' | 'outcome'> {
    const { connection, virtualServer } = this.start;
    const session = this.session ?? connection?.session;
    const record: Omit<ActivityRecord, 'seq' | 'at' | 'kind' | 'outcome'> = {};
    if (session) record.session = session.id;
    if (session?.conversationId !== undefined) record.chat = session.conversationId;
    if (connection) record.connection = connection.id;
    if (connection?.client) record.client = connection.client.name;
    if (virtualServer !== undefined) record.virtualServer = virtualServer;
    if (this.upstream) record.upstream = this.upstream;
    record.tool = this.tool ?? this.start.target;
    if (this.trace) record.traceId = this.trace.traceId;
    return record;
  }
}

/** A result in a few words: how many content items of which types; never the content. */
function summarize(result: unknown): string | undefined {
  if (!result || typeof result !== 'object') return undefined;
  const record = result as { content?: unknown; contents?: unknown; messages?: unknown };
  const items = Array.isArray(record.content) ? record.content : Array.isArray(record.contents) ? record.contents : Array.isArray(record.messages) ? record.messages : undefined;
  if (!items) return undefined;
  const kinds = new Map<string, number>();
  for (const item of items as { type?: unknown }[]) {
    const type = typeof item?.type === 'string' ? item.type : Array.isArray(record.messages) ? 'message' : 'resource';
    kinds.set(type, (kinds.get(type) ?? 0) + 1);
  }
  return [...kinds].map(([type, count]) => `${count} ${type}`).join(', ') || 'empty';
}

/** A refusal's or a tool error's text, cut short. */
function firstText(result: unknown): string | undefined {
  const content = (result as CallToolResult | undefined)?.content;
  const first = Array.isArray(content) ? content.find((item) => item.type === 'text') : undefined;
  if (!first || first.type !== 'text') return undefined;
  return first.text.length > 500 ? `${first.text.slice(0, 500)}…` : first.text;
}
