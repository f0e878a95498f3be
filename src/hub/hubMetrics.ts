import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ActivityLog, ActivityRecord } from '../core/infra/activity';
import type { Disposable } from '../core/infra/lifecycle';
import type { AdminState } from './adminState';

type CallLabels = { method: string; upstream: string; tool: string };
/** One label set of the call metrics, with prom-client's children bound to it (a counter per outcome). */
type CallSeries = { labels: CallLabels; calls: Map<string, Counter.Internal>; latency: Histogram.Internal<'method' | 'upstream' | 'tool'> };
/** Label sets whose children are kept at hand; past it the cache starts again. */
const maxCachedSeries = 10_000;

/**
 * The hub's Prometheus metrics (`prom-client`, in a registry of its own: nothing global). Counters
 * follow the activity records, the one source of what happened; gauges are read from the hub's
 * state when scraped, so they cost nothing between scrapes.
 */
export class HubMetrics implements Disposable {
  readonly registry = new Registry();
  private readonly calls: Counter<'method' | 'upstream' | 'tool' | 'outcome'>;
  private readonly latency: Histogram<'method' | 'upstream' | 'tool'>;
  private readonly safeMode: Counter<'outcome'>;
  private readonly approvals: Counter<'answer'>;
  private readonly restarts: Counter<'upstream'>;
  private readonly droppedAudit: Counter;
  private readonly subscription: Disposable;
  /** The state one scrape reads, built once for all its gauges. */
  private scraped?: AdminState;
  private readonly series = new Map<string, CallSeries>();

  constructor(activity: ActivityLog, buildState: () => AdminState) {
    const registers = [this.registry];
    const state = () => (this.scraped ??= buildState());
    this.calls = new Counter({ name: 'mcp_hub_calls_total', help: 'Client requests served (tools/call, resources/read, prompts/get) by outcome', labelNames: ['method', 'upstream', 'tool', 'outcome'], registers });
    this.latency = new Histogram({
      name: 'mcp_hub_call_duration_seconds',
      help: 'Time from a client request to its answer, safe mode and approval included',
      labelNames: ['method', 'upstream', 'tool'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.safeMode = new Counter({ name: 'mcp_hub_safe_mode_decisions_total', help: 'Safe mode decisions by outcome', labelNames: ['outcome'], registers });
    this.approvals = new Counter({ name: 'mcp_hub_approval_answers_total', help: "Answers to safe mode's approval requests (once, session, deny, timeout)", labelNames: ['answer'], registers });
    this.restarts = new Counter({ name: 'mcp_hub_upstream_restarts_total', help: 'Times an upstream started again after it had been up or failed', labelNames: ['upstream'], registers });
    this.droppedAudit = new Counter({ name: 'mcp_hub_audit_writes_dropped_total', help: 'Activity records the audit file could not take (disk full, folder gone)', registers });
    const gauge = (name: string, help: string, read: (state: AdminState) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(state()));
        },
      });
    gauge('mcp_hub_open_sessions', 'Logical sessions open (chats not counted)', (s) => s.sessions.filter((session) => !session.chat).length);
    gauge('mcp_hub_open_chats', 'Chat sessions open', (s) => s.sessions.filter((session) => session.chat).length);
    gauge('mcp_hub_open_instances', 'Per-session upstream instances running', (s) => s.upstreams.reduce((sum, upstream) => sum + (upstream.perSession?.instances ?? 0), 0));
    new Gauge({
      name: 'mcp_hub_upstream_up',
      help: 'Whether an upstream is ready (1) or not (0)',
      labelNames: ['upstream', 'state'],
      registers,
      collect() {
        this.reset();
        for (const upstream of state().upstreams) this.set({ upstream: upstream.id, state: upstream.state }, upstream.state === 'ready' ? 1 : 0);
      },
    });
    this.subscription = activity.onDidAdd((record) => this.count(record));
  }

  /** One more record the audit file dropped. */
  auditDropped(count: number): void {
    this.droppedAudit.inc(count);
  }

  /** The text format, for `/metrics`. */
  async text(): Promise<{ contentType: string; body: string }> {
    try {
      return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    } finally {
      this.scraped = undefined;
    }
  }

  private count(record: ActivityRecord): void {
    if (record.kind === 'call') {
      const series = this.seriesOf(record);
      let calls = series.calls.get(record.outcome);
      if (!calls) {
        calls = this.calls.labels({ ...series.labels, outcome: record.outcome });
        series.calls.set(record.outcome, calls);
      }
      calls.inc();
      if (record.latencyMs !== undefined) series.latency.observe(record.latencyMs / 1000);
    } else if (record.kind === 'safe-mode') {
      this.safeMode.inc({ outcome: record.outcome });
    } else if (record.kind === 'approval' && record.outcome !== 'asked') {
      this.approvals.inc({ answer: record.outcome });
    } else if (record.kind === 'upstream' && record.outcome === 'starting' && record.upstream) {
      this.restarts.inc({ upstream: record.upstream });
    }
  }

  /**
   * A call's label set and its bound children, looked up once per call instead of prom-client
   * hashing and checking the labels on every increment. Only a routed call is labelled with its
   * tool: a name the hub does not serve is the client's to choose, and each would be a series kept forever.
   */
  private seriesOf(record: ActivityRecord): CallSeries {
    const labels = { method: record.method ?? '', upstream: record.upstream ?? '', tool: record.upstream === undefined ? '' : (record.tool ?? '') };
    const key = `${labels.method}\n${labels.upstream}\n${labels.tool}`;
    let series = this.series.get(key);
    if (!series) {
      // A bound on the cache only: prom-client keeps every series it has seen, as it must.
      if (this.series.size >= maxCachedSeries) this.series.clear();
      series = { labels, calls: new Map(), latency: this.latency.labels(labels) };
      this.series.set(key, series);
    }
    return series;
  }

  dispose(): void {
    this.subscription.dispose();
    this.series.clear();
    this.registry.clear();
  }
}
