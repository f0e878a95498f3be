import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Histogram, type Counter, type Span, type Tracer } from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { TelemetrySettings } from '../core/infra/activity';
import { errorMessage, type Logger } from '../core/infra/logger';


/** What turns tracing on, read from the environment and the config; undefined: off. */
export function telemetryTarget(env: NodeJS.ProcessEnv, settings: TelemetrySettings | undefined): { traces: string; metrics?: string; protocol: 'http/protobuf' | 'http/json' } | undefined {
  if (env.OTEL_SDK_DISABLED === 'true') return undefined;
  const base = settings?.endpoint ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!traces) return undefined;
  const metrics = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? (base ? `${base.replace(/\/+$/, '')}/v1/metrics` : undefined);
  const named = settings?.protocol ?? env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
  return { traces, ...(metrics ? { metrics } : {}), protocol: named === 'http/json' ? 'http/json' : 'http/protobuf' };
}

/** What a SERVER span is made of: the MCP semantic conventions' attributes. */
export type ServerRequest = {
  method: string;
  /** The tool or prompt name, or the resource URI: the span is `{method} {target}`. */
  target?: string;
  sessionId?: string;
  requestId?: string | number;
  /** The caller's W3C trace context: `params._meta.traceparent`, or the request's `traceparent` header. */
  traceparent?: unknown;
  transport?: string;
};

/** One client request's span, and the CLIENT spans of the upstream requests made for it. */
export type RequestTrace = {
  readonly traceId: string;
  /** Starts a CLIENT span for an upstream request; its `traceparent` goes in the request's `_meta` and headers. */
  client(method: string, target: string | undefined, upstream: string): { traceparent: string; end(error?: unknown): void };
  /** Ends the SERVER span; `errorType` marks it failed, as `error.type`. */
  end(errorType?: string): void;
};

/**
 * OpenTelemetry for the hub, with the official SDK and OTLP/HTTP exporters, on its own tracer
 * and meter providers: nothing global is registered, so an extension host's other users of the
 * API are left alone. Off (no endpoint), `request` returns undefined and nothing else runs.
 */
export class Telemetry {
  private readonly tracer?: Tracer;
  private readonly tracerProvider?: TracerProvider;
  private readonly meterProvider?: MeterProvider;
  private readonly serverDuration?: Histogram;
  private readonly clientDuration?: Histogram;
  private readonly sessionDuration?: Histogram;
  private readonly safeModeDecisions?: Counter;

  private constructor(target: ReturnType<typeof telemetryTarget>, settings: TelemetrySettings | undefined, version: string, logger?: Logger) {
    if (!target) return;
    const resource = resourceFromAttributes({ 'service.name': 'mcp-session-hub', 'service.version': version });
    const exporter = target.protocol === 'http/json' ? new OTLPJsonTraceExporter({ url: target.traces }) : new OTLPProtoTraceExporter({ url: target.traces });
    this.tracerProvider = new TracerProvider({ resource, spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1000 })] });
    this.tracer = this.tracerProvider.getTracer('mcp-session-hub', version);
    if (target.metrics) {
      const reader = new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: target.metrics }), exportIntervalMillis: settings?.metricsIntervalMs ?? 60_000 });
      this.meterProvider = new MeterProvider({ resource, readers: [reader] });
      const meter = this.meterProvider.getMeter('mcp-session-hub', version);
      this.serverDuration = meter.createHistogram('mcp.server.operation.duration', { unit: 's', description: 'Duration of an MCP request as the hub served it' });
      this.clientDuration = meter.createHistogram('mcp.client.operation.duration', { unit: 's', description: 'Duration of an MCP request the hub sent to an upstream' });
      this.sessionDuration = meter.createHistogram('mcp.server.session.duration', { unit: 's', description: 'Duration of a logical MCP session' });
      this.safeModeDecisions = meter.createCounter('mcp_session_hub.safe_mode.decisions', { description: 'Safe mode decisions by outcome' });
    }
    logger?.info(`OpenTelemetry: traces to ${target.traces}${target.metrics ? `, metrics to ${target.metrics}` : ''} (${target.protocol})`);
  }

  /** Telemetry as the environment and config say: off unless an OTLP endpoint is given. */
  static create(env: NodeJS.ProcessEnv, settings: TelemetrySettings | undefined, version: string, logger?: Logger): Telemetry {
    return new Telemetry(telemetryTarget(env, settings), settings, version, logger);
  }

  static off(): Telemetry {
    return new Telemetry(undefined, undefined, '');
  }

  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /** A SERVER span for one client request, child of the caller's trace context when it sent one; undefined when off. */
  request(request: ServerRequest): RequestTrace | undefined {
    const tracer = this.tracer;
    if (!tracer) return undefined;
    const parentContext = typeof request.traceparent === 'string' ? parseTraceParent(request.traceparent) : null;
    const parent: Context = parentContext ? trace.setSpanContext(ROOT_CONTEXT, parentContext) : ROOT_CONTEXT;
    const attributes: Attributes = { 'mcp.method.name': request.method };
    if (request.sessionId !== undefined) attributes['mcp.session.id'] = request.sessionId;
    if (request.requestId !== undefined) attributes['jsonrpc.request.id'] = String(request.requestId);
    if (request.transport !== undefined) attributes['network.transport'] = request.transport === 'stdio' ? 'pipe' : 'tcp';
    if (request.target !== undefined) {
      if (request.method === 'tools/call') attributes['gen_ai.tool.name'] = request.target;
      else if (request.method === 'prompts/get') attributes['gen_ai.prompt.name'] = request.target;
      else if (request.method === 'resources/read') attributes['mcp.resource.uri'] = request.target;
    }
    if (request.method === 'tools/call') attributes['gen_ai.operation.name'] = 'execute_tool';
    const name = request.target === undefined ? request.method : `${request.method} ${request.target}`;
    const started = performance.now();
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    const spanContext = trace.setSpan(ROOT_CONTEXT, span);
    return {
      traceId: span.spanContext().traceId,
      client: (method, target, upstream) => {
        const clientStarted = performance.now();
        const clientAttributes: Attributes = { 'mcp.method.name': method, 'server.address': upstream };
        if (method === 'tools/call' && target !== undefined) clientAttributes['gen_ai.tool.name'] = target;
        const child: Span = tracer.startSpan(target === undefined ? method : `${method} ${target}`, { kind: SpanKind.CLIENT, attributes: clientAttributes }, spanContext);
        const { traceId, spanId, traceFlags } = child.spanContext();
        return {
          traceparent: `00-${traceId}-${spanId}-0${(traceFlags & 1).toString(16)}`,
          end: (error) => {
            const errorType = error === undefined ? undefined : errorTypeOf(error);
            if (errorType) {
              child.setAttribute('error.type', errorType);
              child.setStatus({ code: SpanStatusCode.ERROR });
            }
            child.end();
            this.clientDuration?.record((performance.now() - clientStarted) / 1000, { 'mcp.method.name': method, ...(errorType ? { 'error.type': errorType } : {}) });
          },
        };
      },
      end: (errorType) => {
        if (errorType) {
          span.setAttribute('error.type', errorType);
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
        this.serverDuration?.record((performance.now() - started) / 1000, { 'mcp.method.name': request.method, ...(errorType ? { 'error.type': errorType } : {}) });
      },
    };
  }

  safeModeDecision(outcome: string): void {
    this.safeModeDecisions?.add(1, { outcome });
  }

  sessionEnded(durationMs: number): void {
    this.sessionDuration?.record(durationMs / 1000);
  }

  /** Exports what is buffered now (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([this.tracerProvider?.forceFlush(), this.meterProvider?.forceFlush()]);
  }

  async shutdown(logger?: Logger): Promise<void> {
    try {
      await Promise.all([this.tracerProvider?.shutdown(), this.meterProvider?.shutdown()]);
    } catch (error) {
      logger?.warn(`OpenTelemetry: shutting down failed: ${errorMessage(error)}`);
    }
  }
}

/** `error.type`: a JSON-RPC error's code, else the error's name. */
export function errorTypeOf(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof (error as { code: unknown }).code === 'number') return String((error as { code: number }).code);
  if (error instanceof Error) return error.name || 'Error';
  return 'error';
}
