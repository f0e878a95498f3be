/**
 * Typed errors thrown by the core. Each edge translates them: the MCP layer into
 * JSON-RPC errors, the HTTP layer into statuses, the VS Code layer into messages.
 */

/** A JSON path into the config file, printed as `servers.demo.command`. */
export type ConfigIssue = { path: string; message: string };

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${source}: invalid hub config:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A request names a tool, prompt or resource that the caller's virtual server does not expose. */
export class OutOfScopeError extends Error {
  constructor(
    readonly kind: 'tool' | 'prompt' | 'resource' | 'completion',
    readonly requested: string,
    readonly scope: string,
  ) {
    super(`${kind} '${requested}' is not available on ${scope}`);
    this.name = 'OutOfScopeError';
  }
}

/** The upstream a request needs is not connected (starting, failed or stopped). */
export class UpstreamUnavailableError extends Error {
  constructor(
    readonly upstream: string,
    readonly reason: string,
  ) {
    super(`upstream '${upstream}' is unavailable: ${reason}`);
    this.name = 'UpstreamUnavailableError';
  }
}

/** A per-session upstream already runs as many session instances as its config allows. */
export class InstanceLimitError extends Error {
  constructor(
    readonly upstream: string,
    readonly maxInstances: number,
    why = `it already runs maxInstances = ${maxInstances} session instances; end a session or raise maxInstances`,
  ) {
    super(`upstream '${upstream}' cannot start an instance for this session: ${why}`);
    this.name = 'InstanceLimitError';
  }
}
