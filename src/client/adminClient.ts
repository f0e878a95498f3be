import type { ActivityRecord } from '../core/infra/activity';
import type { Disposable } from '../core/infra/lifecycle';
import type { AdminState } from '../hub/adminState';

/** What `/admin/state` answers: the hub's state and the URL it serves on. */
export type HubState = AdminState & { url: string };

export class AdminHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdminHttpError';
  }
}

const requestTimeoutMs = 5_000;
const reconnectMaxMs = 5_000;

/**
 * A client of a hub's admin API, local or in another process: the VS Code layer talks to its
 * own in-process hub and to another window's hub the same way, through this.
 */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  /** The hub's health answer, or undefined when nothing (or something else) answers there. */
  async health(): Promise<{ name: string; version: string } | undefined> {
    try {
      const response = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(1_500) });
      if (!response.ok) return undefined;
      const body = (await response.json()) as { name?: string; version?: string };
      return body.name === 'mcp-session-hub' ? { name: body.name, version: body.version ?? '' } : undefined;
    } catch {
      return undefined;
    }
  }

  state(): Promise<HubState> {
    return this.call<HubState>('GET', '/admin/state');
  }

  async killSession(id: string): Promise<boolean> {
    try {
      await this.call('DELETE', `/admin/sessions/${encodeURIComponent(id)}`);
      return true;
    } catch (error) {
      if (error instanceof AdminHttpError && error.status === 404) return false;
      throw error;
    }
  }

  async killAllSessions(): Promise<number> {
    return (await this.call<{ ended: number }>('DELETE', '/admin/sessions')).ended;
  }

  /** Starts a sign-in to an OAuth upstream: the URL to open, or `signedIn` when the stored sign-in works. */
  login(id: string): Promise<{ authorizationUrl?: string; signedIn?: boolean }> {
    return this.call('POST', `/admin/upstreams/${encodeURIComponent(id)}/login`);
  }

  /** Forgets an OAuth upstream's tokens and registration. */
  async logout(id: string): Promise<void> {
    await this.call('POST', `/admin/upstreams/${encodeURIComponent(id)}/logout`);
  }

  async restartUpstream(id: string): Promise<void> {
    await this.call('POST', `/admin/upstreams/${encodeURIComponent(id)}/restart`);
  }

  /** Frees what ended sessions owned: one session's, one identifier, or all. Returns how many identifiers. */
  async releaseTombstones(which: { session: string } | { upstream: string; kind: string; id: string } | { all: true }): Promise<number> {
    return (await this.call<{ released: number }>('POST', '/admin/tombstones/release', which)).released;
  }

  async setSafeMode(enabled: boolean, upstream?: string): Promise<void> {
    await this.call('POST', '/admin/safe-mode', { enabled, ...(upstream ? { upstream } : {}) });
  }

  /**
   * Follows `/admin/events`: `onState` gets every state the hub pushes. When the stream breaks
   * (the hub went away) `onLost` is told once per outage, and the client keeps reconnecting.
   */
  watch(onState: (state: HubState) => void, onLost: (error: unknown) => void): Disposable {
    return this.follow('/admin/events', (event, data) => {
      if (event === 'state') onState(JSON.parse(data) as HubState);
    }, () => undefined, onLost);
  }

  /**
   * Follows `/admin/activity`: the records the hub keeps, oldest first, then each new one.
   * `onConnected` is told before each (re)connection's backlog, which starts again from the
   * oldest kept: a follower forgets what it holds then.
   */
  followActivity(onRecord: (record: ActivityRecord) => void, onConnected: () => void, onLost: (error: unknown) => void): Disposable {
    return this.follow('/admin/activity?follow=1', (event, data) => {
      if (event === 'activity') onRecord(JSON.parse(data) as ActivityRecord);
    }, onConnected, onLost);
  }

  /** Reads a Server-Sent Events stream and reconnects with a growing wait until disposed. */
  private follow(path: string, onEvent: (event: string, data: string) => void, onConnected: () => void, onLost: (error: unknown) => void): Disposable {
    const stop = new AbortController();
    let delay = 250;
    const loop = async () => {
      while (!stop.signal.aborted) {
        try {
          await this.readEvents(path, stop.signal, () => {
            delay = 250;
            onConnected();
          }, onEvent);
          if (!stop.signal.aborted) onLost(new Error(`the hub closed its event stream ${path}`));
        } catch (error) {
          if (stop.signal.aborted) return;
          onLost(error);
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(reconnectMaxMs, delay * 2);
      }
    };
    void loop();
    return { dispose: () => stop.abort() };
  }

  private async readEvents(path: string, signal: AbortSignal, onConnected: () => void, onEvent: (event: string, data: string) => void): Promise<void> {
    const response = await fetch(`${this.baseUrl}${path}`, { headers: this.headers(), signal });
    if (!response.ok || !response.body) throw new AdminHttpError(response.status, `${path}: HTTP ${response.status}`);
    onConnected();
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = event.split('\n');
        const data = lines
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        const name = lines.find((line) => line.startsWith('event:'))?.slice(6).trim() ?? 'message';
        if (data) onEvent(name, data);
      }
    }
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  private async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { ...this.headers(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new AdminHttpError(response.status, `${method} ${path}: HTTP ${response.status} ${message}`.trim());
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
