import { Emitter, type Event } from './events';

/**
 * The activity record: one per thing the hub did or decided that a human may ask about later.
 * Built once, where the event happens, and handed to every consumer (the ring buffer and its
 * admin stream, the audit file, Prometheus, OpenTelemetry) as the same object.
 */
export type ActivityRecord = {
  /** Increasing within one hub process; a reader that follows resumes after the last it saw. */
  seq: number;
  /** ISO 8601. */
  at: string;
  kind: 'call' | 'safe-mode' | 'approval' | 'session' | 'chat' | 'upstream';
  /** For `call`: `tools/call`, `resources/read` or `prompts/get`. */
  method?: string;
  /** The logical session the event belongs to (a chat's own id for a chat's calls). */
  session?: string;
  /** A chat session's conversation id. */
  chat?: string;
  connection?: string;
  client?: string;
  virtualServer?: string;
  upstream?: string;
  /** The tool or prompt name as the upstream knows it, or the resource URI. */
  tool?: string;
  /** The arguments, masked and truncated (see `ActivityRedactor`). */
  args?: unknown;
  argsTruncated?: boolean;
  /** safe mode's call digest (sha256 of upstream, tool and arguments), hex. */
  digest?: string;
  /**
   * `call`: `ok`, `error`, `refused`, `asked→once`, `asked→session`, `asked→deny`, `asked→timeout`.
   * `safe-mode`: the verdict (`allowed`, `refused`, `approved once`, …). `approval`: `asked`, or the
   * answer. `session`/`chat`: `started` or `ended`. `upstream`: the new state.
   */
  outcome: string;
  latencyMs?: number;
  /** What went wrong, or why safe mode decided as it did, or why a session ended. */
  detail?: string;
  /** What safe mode judged (`kind value` descriptions), at most 20. */
  identifiers?: string[];
  /** What the call returned, in a few words (never its content). */
  result?: string;
  /** The W3C trace id of the span the call ran in, when tracing is on. */
  traceId?: string;
};

/** What the activity log keeps and how it masks; `hub.activity` in the config. */
export type ActivitySettings = {
  /** Records kept in memory for the admin API and the views. */
  bufferSize: number;
  /** Longest argument text kept in a record, in characters; longer is cut. */
  maxArgumentChars: number;
  /** Property names whose values are masked, besides the built-in secret-like ones (case-insensitive). */
  redact: string[];
  audit: {
    /** Write the JSON Lines audit trail in the hub's state folder (default on). */
    enabled: boolean;
    /** The file is rotated once it reaches this many bytes. */
    maxFileBytes: number;
    /** Rotated files kept besides the current one. */
    files: number;
  };
};

/** `hub.telemetry` in the config; the standard `OTEL_EXPORTER_OTLP_*` variables turn it on too. */
export type TelemetrySettings = {
  /** The OTLP/HTTP base URL (`/v1/traces` and `/v1/metrics` are added), as `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  endpoint?: string;
  /** `http/protobuf` (the default, as OTLP's) or `http/json`. */
  protocol?: 'http/protobuf' | 'http/json';
  /** How often metrics are exported, in ms. */
  metricsIntervalMs?: number;
};

export const defaultActivitySettings: ActivitySettings = {
  bufferSize: 5000,
  maxArgumentChars: 2048,
  redact: [],
  audit: { enabled: true, maxFileBytes: 10 * 1024 * 1024, files: 5 },
};

/** What a masked value is replaced with. */
export const maskedValue = '[redacted]';

/** Property names that hold secrets more often than not. */
const secretName = /passw(or)?d|passphrase|^pwd$|secret|token|api[-_]?key|^auth$|authorization|cookie|credential|private[-_]?key|bearer/i;

/**
 * Masks the values of secret-like properties (`token`, `password`, `apiKey`, `authorization`,
 * … and the config's `redact` names) anywhere in the arguments, then cuts the JSON text to the
 * configured length. The result never holds a masked value, whole or in part.
 */
export class ActivityRedactor {
  private readonly extra: Set<string>;

  constructor(private readonly settings: Pick<ActivitySettings, 'redact' | 'maxArgumentChars'>) {
    this.extra = new Set(settings.redact.map((name) => name.toLowerCase()));
  }

  /** Whether a property of this name has its value masked. */
  masks(name: string): boolean {
    return this.extra.has(name.toLowerCase()) || secretName.test(name);
  }

  /** The arguments as a record keeps them: masked, and cut to a string when too long. */
  arguments(args: unknown): { args?: unknown; argsTruncated?: boolean } {
    if (args === undefined) return {};
    const masked = this.mask(args, 0);
    const text = JSON.stringify(masked) ?? '';
    if (text.length <= this.settings.maxArgumentChars) return { args: masked };
    return { args: `${text.slice(0, this.settings.maxArgumentChars)}…`, argsTruncated: true };
  }

  /**
   * `text` (an error an upstream sent back, say) with every string value the arguments' masked
   * properties held replaced by the mask, so an upstream that echoes a password does not put it
   * in the record.
   */
  scrub(text: string, args: unknown): string {
    const values: string[] = [];
    this.collect(args, false, values, 0);
    let out = text;
    for (const value of values.sort((a, b) => b.length - a.length)) if (value.length >= 3) out = out.split(value).join(maskedValue);
    return out;
  }

  private collect(value: unknown, masked: boolean, into: string[], depth: number): void {
    if (depth > 32) return;
    if (typeof value === 'string' || typeof value === 'number') {
      if (masked) into.push(String(value));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const item of value) this.collect(item, masked, into, depth + 1);
      return;
    }
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) this.collect(item, masked || this.masks(key), into, depth + 1);
  }

  private mask(value: unknown, depth: number): unknown {
    if (value === null || typeof value !== 'object') return value;
    if (depth > 32) return '[too deep]';
    if (Array.isArray(value)) return value.map((item) => this.mask(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      out[key] = this.masks(key) ? maskedValue : this.mask(item, depth + 1);
    }
    return out;
  }
}

/**
 * The bounded ring buffer of recent records, and the one event every consumer listens to. A
 * record is added once; the buffer drops the oldest past `bufferSize`.
 */
export class ActivityLog {
  private readonly ring: (ActivityRecord | undefined)[];
  private next = 0;
  private count = 0;
  private seq = 0;
  private readonly emitter: Emitter<ActivityRecord>;
  /** Every record, as it is added. */
  readonly onDidAdd: Event<ActivityRecord>;
  readonly redactor: ActivityRedactor;

  constructor(
    readonly settings: ActivitySettings = defaultActivitySettings,
    onListenerError: (error: unknown) => void = () => undefined,
  ) {
    this.ring = new Array<ActivityRecord | undefined>(Math.max(1, settings.bufferSize));
    this.emitter = new Emitter<ActivityRecord>(onListenerError);
    this.onDidAdd = this.emitter.event;
    this.redactor = new ActivityRedactor(settings);
  }

  /** Stamps a record with its sequence number and time, keeps it and hands it to every consumer. */
  add(record: Omit<ActivityRecord, 'seq' | 'at'> & { at?: string }): ActivityRecord {
    const full: ActivityRecord = { seq: ++this.seq, at: record.at ?? new Date().toISOString(), ...record } as ActivityRecord;
    this.ring[this.next] = full;
    this.next = (this.next + 1) % this.ring.length;
    this.count = Math.min(this.count + 1, this.ring.length);
    this.emitter.fire(full);
    return full;
  }

  /** The records kept, oldest first; those after `afterSeq` only, when given. */
  records(afterSeq = 0): ActivityRecord[] {
    const out: ActivityRecord[] = [];
    const start = (this.next - this.count + this.ring.length) % this.ring.length;
    for (let i = 0; i < this.count; i++) {
      const record = this.ring[(start + i) % this.ring.length];
      if (record && record.seq > afterSeq) out.push(record);
    }
    return out;
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

/**
 * The last calls of each open session and chat, for the views (the tree shows them under the
 * session): kept from the records as they are added, so building the state never scans the ring.
 */
export class RecentCalls {
  private readonly bySession = new Map<string, ActivityRecord[]>();
  private readonly subscription: { dispose(): void };

  constructor(
    log: ActivityLog,
    private readonly perSession = 5,
  ) {
    this.subscription = log.onDidAdd((record) => {
      if (!record.session) return;
      if ((record.kind === 'session' || record.kind === 'chat') && record.outcome === 'ended') {
        this.bySession.delete(record.session);
        return;
      }
      if (record.kind !== 'call') return;
      // Cut to its light form when read: a session's calls are read far less often than made.
      const list = this.bySession.get(record.session) ?? [];
      list.unshift(record);
      if (list.length > this.perSession) list.length = this.perSession;
      this.bySession.set(record.session, list);
    });
  }

  /** A session's last calls, newest first. */
  of(sessionId: string): readonly ActivityRecord[] {
    return (this.bySession.get(sessionId) ?? []).map(light);
  }

  dispose(): void {
    this.subscription.dispose();
    this.bySession.clear();
  }
}

/** A call record as the admin state carries it: every snapshot holds them, so long texts are cut. */
function light(record: ActivityRecord): ActivityRecord {
  const cut = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);
  const { args, detail, ...rest } = record;
  return {
    ...rest,
    ...(args === undefined ? {} : { args: cut(typeof args === 'string' ? args : JSON.stringify(args)) }),
    ...(detail === undefined ? {} : { detail: cut(detail) }),
  };
}

/** A filter on records, as the CLI and the admin route take it. */
export type ActivityFilter = { session?: string; tool?: string; outcome?: string; upstream?: string; kind?: string };

/** Whether a record passes the filter: session matches the session or its chats; the others exactly (tool: suffix too). */
export function matchesActivity(record: ActivityRecord, filter: ActivityFilter): boolean {
  if (filter.session !== undefined && record.session !== filter.session && !record.session?.startsWith(`${filter.session}/`) && record.chat !== filter.session) return false;
  if (filter.tool !== undefined && record.tool !== filter.tool) return false;
  if (filter.outcome !== undefined && record.outcome !== filter.outcome) return false;
  if (filter.upstream !== undefined && record.upstream !== filter.upstream) return false;
  if (filter.kind !== undefined && record.kind !== filter.kind) return false;
  return true;
}
