import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type ClientRequest,
  type Implementation,
  type Progress,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { emptyCatalog, type CatalogCategory, type UpstreamCatalog } from '../core/catalog';
import type { UpstreamConfig } from '../core/config';
import { UpstreamUnavailableError } from '../core/errors';
import { Emitter } from '../core/events';
import type { Disposable } from '../core/lifecycle';
import { errorMessage, type Logger } from '../core/logger';
import { createOwnSignalFetch } from './ownSignalFetch';

export type UpstreamState = 'starting' | 'ready' | 'failed' | 'stopped';

export type UpstreamStatus = {
  state: UpstreamState;
  lastError?: string;
  /** When the current state began (ms since epoch). */
  since: number;
  /** Connection attempts that failed in a row; reset by a successful connect. */
  failures: number;
  serverInfo?: Implementation;
  pid?: number;
};

/** Results pass through the hub as the upstream sent them; the SDK server validates what it sends. */
const passthroughResult = z.object({}).passthrough();
export type PassthroughResult = z.infer<typeof passthroughResult>;

export type UpstreamRequestOptions = {
  signal?: AbortSignal;
  /** Progress the upstream reports for this request, in order, before the result. */
  onprogress?: (progress: Progress) => void;
};

/** setTimeout's ceiling; the SDK's own timeout is replaced by one that progress restarts. */
const maxTimerMs = 2_147_483_647;

const clientInfo = { name: 'mcp-session-hub', version: '0.1.0' };
const maxListPages = 100;
const backoffBaseMs = 500;
const backoffMaxMs = 30_000;

export type UpstreamConnectionOptions = {
  logger: Logger;
  clientName?: string;
  /** Test hook: the first reconnect delay. */
  backoffBaseMs?: number;
};

/**
 * One MCP client connection to one upstream server: it connects, lists the upstream's catalog,
 * keeps it fresh on `list_changed`, reconnects with backoff when the connection drops, and
 * re-initializes when an HTTP upstream forgets its session (404). It never throws into the hub:
 * failures become status.
 */
export class UpstreamConnection implements Disposable {
  private client?: Client;
  private current: UpstreamStatus = { state: 'starting', since: Date.now(), failures: 0 };
  private catalogValue: UpstreamCatalog = emptyCatalog;
  private capabilities: ServerCapabilities = {};
  private reconnectTimer?: NodeJS.Timeout;
  private connecting?: Promise<void>;
  private disposed = false;
  private readonly readyWaiters = new Set<() => void>();
  private readonly stderrTail: string[] = [];
  private readonly progressRoutes = new Map<string, (progress: Progress) => void>();
  private progressSequence = 0;

  private readonly statusEmitter = new Emitter<UpstreamStatus>();
  readonly onDidChangeStatus = this.statusEmitter.event;
  private readonly catalogEmitter = new Emitter<UpstreamCatalog>();
  readonly onDidChangeCatalog = this.catalogEmitter.event;

  constructor(
    readonly config: UpstreamConfig,
    private readonly options: UpstreamConnectionOptions,
  ) {}

  get id(): string {
    return this.config.id;
  }

  get status(): UpstreamStatus {
    return this.current;
  }

  get catalog(): UpstreamCatalog {
    return this.catalogValue;
  }

  get serverCapabilities(): ServerCapabilities {
    return this.capabilities;
  }

  start(): void {
    void this.connect();
  }

  /** Reconnects now, whatever the state; used by the admin API's restart. */
  async restart(): Promise<void> {
    this.current = { ...this.current, failures: 0 };
    await this.teardown();
    await this.connect();
  }

  /**
   * Sends a request to the upstream. Waits for a connection that is still starting (up to the
   * upstream's timeout), and retries once after re-initializing when an HTTP upstream says 404.
   * The timeout restarts on every progress notification; when it expires, or `signal` aborts,
   * the upstream gets `notifications/cancelled`.
   */
  async request(request: ClientRequest, options: UpstreamRequestOptions = {}): Promise<PassthroughResult> {
    const client = await this.readyClient(options.signal);
    try {
      return await this.send(client, request, options);
    } catch (error) {
      if (!(error instanceof StreamableHTTPError && error.code === 404)) throw error;
      this.options.logger.info('upstream forgot its session (404); re-initializing');
      await this.teardown();
      await this.connect();
      return this.send(await this.readyClient(options.signal), request, options);
    }
  }

  private async send(client: Client, request: ClientRequest, options: UpstreamRequestOptions): Promise<PassthroughResult> {
    const { timeoutMs } = this.config;
    const deadline = new AbortController();
    const expire = () => deadline.abort(new McpError(ErrorCode.RequestTimeout, `upstream '${this.id}' did not answer within ${timeoutMs} ms`));
    let timer = setTimeout(expire, timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    let token: string | undefined;
    let outgoing = request;
    if (options.onprogress) {
      // The hub's own token: progress is routed at the transport, in order with the result.
      token = `hub-progress-${++this.progressSequence}`;
      const forward = options.onprogress;
      this.progressRoutes.set(token, (progress) => {
        clearTimeout(timer);
        timer = setTimeout(expire, timeoutMs);
        forward(progress);
      });
      const params = (request.params ?? {}) as Record<string, unknown>;
      const meta = (params._meta ?? {}) as Record<string, unknown>;
      outgoing = { ...request, params: { ...params, _meta: { ...meta, progressToken: token } } } as ClientRequest;
    }
    try {
      return await client.request(outgoing, passthroughResult, { signal, timeout: maxTimerMs });
    } finally {
      clearTimeout(timer);
      if (token) this.progressRoutes.delete(token);
    }
  }

  /**
   * Takes progress notifications off the wire before the SDK's protocol layer sees them. The SDK
   * dispatches notifications a microtask late but responses at once, so a last progress that
   * arrives with the result would find its handler already gone.
   */
  private routeProgress(transport: Transport): void {
    const dispatch = transport.onmessage;
    transport.onmessage = (message, extra) => {
      if ('method' in message && message.method === 'notifications/progress' && !('id' in message)) {
        const params = message.params as Progress & { progressToken?: string | number };
        const route = typeof params?.progressToken === 'string' ? this.progressRoutes.get(params.progressToken) : undefined;
        if (route) {
          const { progressToken: _token, ...progress } = params;
          route(progress);
          return;
        }
      }
      dispatch?.(message, extra);
    };
  }

  private async readyClient(signal?: AbortSignal): Promise<Client> {
    if (this.current.state === 'starting') await this.waitForReady(this.config.timeoutMs, signal);
    if (this.current.state !== 'ready' || !this.client) {
      throw new UpstreamUnavailableError(this.id, this.current.lastError ?? this.current.state);
    }
    return this.client;
  }

  private waitForReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.readyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.readyWaiters.add(done);
    });
  }

  private setStatus(update: Partial<UpstreamStatus> & { state: UpstreamState }): void {
    const changedState = update.state !== this.current.state;
    this.current = { ...this.current, ...update, since: changedState ? Date.now() : this.current.since };
    if (update.state !== 'starting') for (const waiter of [...this.readyWaiters]) waiter();
    this.statusEmitter.fire(this.current);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.connectOnce().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectOnce(): Promise<void> {
    if (this.disposed) return;
    this.setStatus({ state: 'starting', lastError: this.current.lastError });
    const client = new Client({ ...clientInfo, name: this.options.clientName ?? clientInfo.name }, { capabilities: {} });
    const transport = this.createTransport();
    let closedDuringConnect = false;
    client.onclose = () => {
      if (this.client !== client) {
        closedDuringConnect = true;
        return;
      }
      this.onConnectionLost('connection closed');
    };
    client.onerror = (error) => this.options.logger.debug(`transport error: ${errorMessage(error)}`);
    try {
      await client.connect(transport, { timeout: this.config.timeoutMs });
      if (this.disposed || closedDuringConnect) throw new Error('connection closed during initialize');
      this.routeProgress(transport);
      this.client = client;
      this.capabilities = client.getServerCapabilities() ?? {};
      this.registerListChangedHandlers(client);
      this.catalogValue = await this.fetchCatalog(client);
      const pid = transport instanceof StdioClientTransport ? (transport.pid ?? undefined) : undefined;
      this.setStatus({ state: 'ready', lastError: undefined, failures: 0, serverInfo: client.getServerVersion(), pid });
      this.catalogEmitter.fire(this.catalogValue);
      this.options.logger.info(`ready (${this.describeCatalog()})`);
    } catch (error) {
      if (this.client === client) this.client = undefined;
      await client.close().catch(() => undefined);
      if (this.disposed) return;
      const message = this.withStderr(errorMessage(error));
      this.options.logger.warn(`failed to connect: ${message}`);
      this.setStatus({ state: 'failed', lastError: message, failures: this.current.failures + 1, pid: undefined });
      this.scheduleReconnect();
    }
  }

  private onConnectionLost(reason: string): void {
    if (this.disposed) return;
    this.client = undefined;
    const message = this.withStderr(reason);
    this.options.logger.warn(message);
    this.setStatus({ state: 'failed', lastError: message, failures: this.current.failures + 1, pid: undefined });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.disposed || this.reconnectTimer) return;
    const base = this.options.backoffBaseMs ?? backoffBaseMs;
    const delay = Math.min(backoffMaxMs, base * 2 ** Math.max(0, this.current.failures - 1));
    this.options.logger.debug(`reconnecting in ${delay} ms`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private createTransport(): Transport {
    const { config } = this;
    if (config.type === 'stdio') {
      const transport = new StdioClientTransport({
        command: config.command,
        args: config.args,
        env: config.env,
        cwd: config.cwd,
        stderr: 'pipe',
      });
      transport.stderr?.on('data', (chunk: Buffer) => this.recordStderr(chunk.toString('utf8')));
      return transport;
    }
    const requestInit = { headers: config.headers };
    if (config.type === 'http') {
      return new StreamableHTTPClientTransport(new URL(config.url), { requestInit, fetch: createOwnSignalFetch() });
    }
    return new SSEClientTransport(new URL(config.url), { requestInit, fetch: createOwnSignalFetch() });
  }

  /** A failure message with the child's last stderr lines, which usually say why. */
  private withStderr(message: string): string {
    return this.stderrTail.length ? `${message} (stderr: ${this.stderrTail.slice(-3).join(' | ')})` : message;
  }

  private recordStderr(text: string): void {
    for (const line of text.split('\n')) {
      const trimmed = line.trim();
      if (!trimmed) continue;
      this.options.logger.debug(`stderr: ${trimmed}`);
      this.stderrTail.push(trimmed.slice(0, 300));
      if (this.stderrTail.length > 10) this.stderrTail.shift();
    }
  }

  private registerListChangedHandlers(client: Client): void {
    const refresh = (categories: CatalogCategory[]) => () => {
      void this.refreshCatalog(client, categories);
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, refresh(['tools']));
    client.setNotificationHandler(PromptListChangedNotificationSchema, refresh(['prompts']));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, refresh(['resources', 'resourceTemplates']));
  }

  private async refreshCatalog(client: Client, categories: CatalogCategory[]): Promise<void> {
    try {
      const fresh = await this.fetchCatalog(client, categories);
      if (this.client !== client) return;
      this.catalogValue = { ...this.catalogValue, ...fresh };
      this.catalogEmitter.fire(this.catalogValue);
    } catch (error) {
      this.options.logger.warn(`could not refresh ${categories.join(', ')}: ${errorMessage(error)}`);
    }
  }

  /** Lists what the upstream offers, following its cursors; categories it lacks stay empty. */
  private async fetchCatalog(client: Client, only?: CatalogCategory[]): Promise<UpstreamCatalog> {
    const caps = client.getServerCapabilities() ?? {};
    const wanted = (category: CatalogCategory) => !only || only.includes(category);
    const all = async <T>(method: string, key: string, supported: boolean): Promise<T[]> => {
      if (!supported) return [];
      const items: T[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < maxListPages; page++) {
        const params = cursor ? { cursor } : {};
        const result = (await client.request({ method, params } as ClientRequest, passthroughResult, {
          timeout: this.config.timeoutMs,
        })) as Record<string, unknown>;
        items.push(...((result[key] as T[] | undefined) ?? []));
        cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
        if (!cursor) break;
      }
      return items;
    };
    const [tools, resources, resourceTemplates, prompts] = await Promise.all([
      wanted('tools') ? all<UpstreamCatalog['tools'][number]>('tools/list', 'tools', !!caps.tools) : this.catalogValue.tools,
      wanted('resources') ? all<UpstreamCatalog['resources'][number]>('resources/list', 'resources', !!caps.resources) : this.catalogValue.resources,
      wanted('resourceTemplates')
        ? all<UpstreamCatalog['resourceTemplates'][number]>('resources/templates/list', 'resourceTemplates', !!caps.resources)
        : this.catalogValue.resourceTemplates,
      wanted('prompts') ? all<UpstreamCatalog['prompts'][number]>('prompts/list', 'prompts', !!caps.prompts) : this.catalogValue.prompts,
    ]);
    return { tools, resources, resourceTemplates, prompts };
  }

  private describeCatalog(): string {
    const c = this.catalogValue;
    return `${c.tools.length} tools, ${c.resources.length} resources, ${c.resourceTemplates.length} templates, ${c.prompts.length} prompts`;
  }

  private async teardown(): Promise<void> {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    this.client = undefined;
    if (client) await client.close().catch(() => undefined);
  }

  /** Closes the connection; a stdio child gets stdin closed, then SIGTERM, then SIGKILL (the SDK's escalation). */
  async close(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.teardown();
    this.setStatus({ state: 'stopped', pid: undefined });
    this.statusEmitter.dispose();
    this.catalogEmitter.dispose();
  }

  dispose(): void {
    void this.close();
  }
}
