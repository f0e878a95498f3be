import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { StdioUpstreamConfig, UpstreamConfig } from '../core/config/config';
import type { HookedTransport } from '../core/infra/hookedTransport';
import { fillInstanceVariables, usesInstanceVariable, type InstanceVariables } from '../core/config/instanceVariables';
import { errorMessage, type Logger } from '../core/infra/logger';
import { GroupStdioTransport } from './groupStdioTransport';
import { resolveLaunch } from './launch';
import type { UpstreamAuth } from './oauth/upstreamAuth';
import { createOwnSignalFetch } from './ownSignalFetch';
import { StderrTail } from './stderrTail';

export type InstanceOptions = {
  /** The logical session served, read when the process starts. */
  sessionId: () => string;
};

export type TransportFactoryOptions = {
  logger: Logger;
  /** Set for an instance of a per-session upstream (and its probe): fills in `${sessionId}` and `${instanceDir}`. */
  instance?: InstanceOptions;
  /** Largest message taken from a stdio child. */
  maxMessageBytes: () => number;
  /** A remote upstream's OAuth client: the SDK's transport signs in with it on a 401. */
  auth?: UpstreamAuth;
};

/**
 * How the hub reaches one upstream, a new transport per connection attempt: a child process
 * (with its stderr kept to say why it failed, and the instance's private directory), Streamable
 * HTTP, or legacy SSE once a `url`-only upstream has refused Streamable HTTP.
 */
export class TransportFactory {
  /** A `url`-only upstream whose Streamable HTTP initialize was refused: it is spoken to over legacy SSE. */
  private fellBackToSse = false;
  private instanceDirValue?: string;
  readonly stderr: StderrTail;

  constructor(
    private readonly config: UpstreamConfig,
    private readonly options: TransportFactoryOptions,
  ) {
    this.stderr = new StderrTail(options.logger);
  }

  create(): Transport {
    const { config } = this;
    if (config.type === 'stdio') {
      const launch = resolveLaunch(this.options.instance ? fillInstanceVariables(config, this.instanceVariables(this.options.instance)) : config);
      if (launch.resolvedFrom) this.options.logger.debug(`starting ${launch.resolvedFrom} as node ${launch.args[0]}`);
      // Windows has no process groups: the SDK's transport (which ends the child only) serves there.
      const transport =
        process.platform === 'win32'
          ? new StdioClientTransport({ ...launch, stderr: 'pipe' })
          : new GroupStdioTransport({ ...launch, maxMessageBytes: this.options.maxMessageBytes() });
      transport.stderr?.on('data', (chunk: Buffer) => this.stderr.record(chunk.toString('utf8')));
      return transport;
    }
    const requestInit = { headers: config.headers };
    const { auth } = this.options;
    const fetch = auth ? auth.wrapFetch(createOwnSignalFetch()) : createOwnSignalFetch();
    const authProvider = auth ? { authProvider: auth } : {};
    if (config.type === 'http' && !this.fellBackToSse) {
      return new StreamableHTTPClientTransport(new URL(config.url), { requestInit, fetch, ...authProvider });
    }
    return new SSEClientTransport(new URL(config.url), { requestInit, fetch, ...authProvider });
  }

  /**
   * The SDK's backwards-compatibility rule, for an entry with only a `url`: a 400, 404 or 405 to
   * the Streamable HTTP initialize means an old server, so the next transport is SSE. A 401 or
   * 403 is kept as it is. True when it falls back now.
   */
  fallBackToSse(error: unknown): boolean {
    if (this.config.type !== 'http' || !this.config.sseFallback || this.fellBackToSse) return false;
    this.fellBackToSse = error instanceof StreamableHTTPError && [400, 404, 405].includes(error.code ?? 0);
    return this.fellBackToSse;
  }

  /**
   * This instance's variables; its directory is made on first use, kept across restarts (a
   * crash does not lose the session's files) and removed by `removeInstanceDir`.
   */
  private instanceVariables(instance: InstanceOptions): InstanceVariables {
    if (this.instanceDirValue === undefined && usesInstanceVariable(this.config as StdioUpstreamConfig, 'instanceDir')) {
      this.instanceDirValue = mkdtempSync(join(tmpdir(), 'mcp-session-hub-instance-'));
    }
    return { sessionId: instance.sessionId(), instanceDir: this.instanceDirValue ?? '' };
  }

  /** The private directory of this instance, if its config uses `${instanceDir}`. */
  get instanceDir(): string | undefined {
    return this.instanceDirValue;
  }

  removeInstanceDir(): void {
    if (this.instanceDirValue) rmSync(this.instanceDirValue, { recursive: true, force: true });
  }
}

/** The child's pid, for a stdio transport. */
export function pidOf(transport: Transport): number | undefined {
  return transport instanceof StdioClientTransport || transport instanceof GroupStdioTransport ? (transport.pid ?? undefined) : undefined;
}

export function isHookedHttp(transport: HookedTransport): transport is HookedTransport<StreamableHTTPClientTransport> {
  return transport.inner instanceof StreamableHTTPClientTransport;
}

/** An HTTP upstream that forgot its session (it answers 404): the connection is initialized again. */
export function isForgottenSession(error: unknown): boolean {
  return error instanceof StreamableHTTPError && error.code === 404;
}

/**
 * An upstream failure in words a user can act on: an HTTP status keeps its number and the first
 * line of the body the upstream answered (the SDK's own message would read "Error POSTing to
 * endpoint: " for a 401 with an empty body).
 */
export function describeUpstreamError(error: unknown): string {
  if (error instanceof StreamableHTTPError) {
    const detail = error.message.replace(/^Streamable HTTP error: (Error POSTing to endpoint: )?/, '').split('\n')[0].trim().slice(0, 200);
    return (error.code ?? 0) > 0 ? `HTTP ${error.code}${detail ? `: ${detail}` : ''}` : detail;
  }
  return errorMessage(error);
}
