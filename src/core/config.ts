import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors';
import type { SafeModePolicy } from './safeMode';
import { stableStringify } from './stableJson';

/**
 * The hub's config file: VS Code's `mcp.json` (`servers`) or Claude's (`mcpServers`),
 * plus the hub's own `virtualServers` and `hub` sections. Comments and trailing commas
 * are allowed, as VS Code allows them in `mcp.json`.
 */

const idPattern = /^[A-Za-z0-9_-]{1,32}$/;
const idMessage = 'must be 1-32 characters of A-Z, a-z, 0-9, _ or -';

const timeoutMs = z.number().int().min(100).max(3_600_000);

/** Fields every upstream may carry, whatever its transport. */
const upstreamCommon = {
  /** Per-request timeout in milliseconds (progress resets it). */
  timeout: timeoutMs.optional(),
  /** Start one instance per logical session instead of one shared instance. */
  perSession: z.boolean().optional(),
  /** Accepted spelling of `perSession` used by another hub. */
  perSessionClient: z.boolean().optional(),
  /** perSession: instances kept started and ready for the next sessions. */
  warm: z.number().int().min(0).max(16).optional(),
  /** perSession: the most session instances running at once; past it a new session's call is refused. */
  maxInstances: z.number().int().min(1).max(1000).optional(),
  /** perSession: seconds an instance may stay unused before it is stopped (its session starts a new one). */
  idleTimeout: z.number().int().min(1).max(7 * 24 * 3600).optional(),
  /** Skip this upstream without deleting its entry. */
  disabled: z.boolean().optional(),
  /**
   * stdio and legacy SSE: how a log or a request the upstream sends outside any response stream is
   * attributed. `strict` (default): to nobody. `single-flight`: to the one session with requests in flight.
   */
  attribution: z.enum(['strict', 'single-flight']).optional(),
  /**
   * What the hub answers when this upstream asks `roots/list` and no session can be asked (a
   * shared upstream outside a request): absolute paths or `file://` URIs.
   */
  roots: z.array(z.string().min(1)).optional(),
  /** Safe mode for this upstream: on by default; `false`, or rules per tool. */
  safeMode: z
    .union([
      z.boolean(),
      z
        .object({
          enabled: z.boolean().optional(),
          tools: z
            .record(
              z.string(),
              z
                .object({
                  kind: z.enum(['create', 'destructive', 'guarded', 'additive', 'read', 'other']).optional(),
                  idArguments: z.array(z.string()).optional(),
                  idPaths: z.array(z.string()).optional(),
                  idPattern: z.string().refine(isValidRegExp, 'must be a valid regular expression').optional(),
                })
                .strict(),
            )
            .optional(),
        })
        .strict(),
    ])
    .optional(),
};

function isValidRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

const stdioUpstream = z
  .object({
    type: z.literal('stdio').optional(),
    command: z.string().min(1, 'must not be empty'),
    args: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).optional(),
    cwd: z.string().optional(),
    ...upstreamCommon,
  })
  .passthrough();

const remoteUpstream = z
  .object({
    type: z.enum(['http', 'sse']),
    url: z.string().url('must be an absolute URL'),
    headers: z.record(z.string(), z.string()).optional(),
    ...upstreamCommon,
  })
  .passthrough();

const upstreamSchema = z.unknown().superRefine((value, ctx) => {
  // Pick the variant from `type` (or `command`), so errors speak of the fields that variant needs.
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  if (!record) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an object' });
    return;
  }
  const type = record.type;
  const schema = type === 'http' || type === 'sse' ? remoteUpstream : type === undefined || type === 'stdio' ? stdioUpstream : undefined;
  if (!schema) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['type'], message: `must be "stdio", "http" or "sse" (got ${JSON.stringify(type)})` });
    return;
  }
  const result = schema.safeParse(value);
  if (!result.success) for (const issue of result.error.issues) ctx.addIssue({ ...issue, code: z.ZodIssueCode.custom, message: issue.message });
});

const selectionSchema = z.union([
  z.array(z.string().min(1)),
  z
    .object({
      include: z.array(z.string().min(1)).optional(),
      exclude: z.array(z.string().min(1)).optional(),
    })
    .strict(),
]);

const virtualServerSchema = z
  .object({
    title: z.string().optional(),
    description: z.string().optional(),
    upstreams: z.array(z.string()).min(1, 'must name at least one upstream'),
    tools: selectionSchema.optional(),
    resources: selectionSchema.optional(),
    resourceTemplates: selectionSchema.optional(),
    prompts: selectionSchema.optional(),
    /** `prefixed` (default): `upstream__name`. `bare`: the upstream's own names; collisions are errors. */
    naming: z.enum(['prefixed', 'bare']).optional(),
    /** `false` turns safe mode off for this virtual server's sessions. */
    safeMode: z.boolean().optional(),
    /** Overrides `hub.chatSessions` for this virtual server's sessions. */
    chatSessions: z.enum(['isolated', 'workspace']).optional(),
  })
  .strict();

const hubSettingsSchema = z
  .object({
    /** Seconds without a request after which a session ends. */
    sessionIdleTimeout: z.number().int().min(1).max(7 * 24 * 3600).optional(),
    /**
     * Where a call names its chat (VS Code sends `_meta["vscode.conversationId"]` on calls from
     * chat): `meta:<key>` entries, tried in order. Each chat gets a session of its own inside its
     * connection's session. `[]` turns chat sessions off.
     */
    sessionKeys: z.array(z.string().regex(/^meta:.{1,128}$/, 'must be "meta:<_meta key>"')).optional(),
    /** `isolated` (default): a chat owns only what it created and has its own instances. `workspace`: chats share their workspace's. */
    chatSessions: z.enum(['isolated', 'workspace']).optional(),
    /** Seconds without a call after which a chat session ends (VS Code never says a chat closed). */
    chatSessionIdleTimeout: z.number().int().min(1).max(7 * 24 * 3600).optional(),
    /** Largest accepted request body, in bytes. */
    maxBodyBytes: z.number().int().min(1024).max(256 * 1024 * 1024).optional(),
    /** Deepest nesting of arrays and objects accepted in a request body. */
    maxJsonDepth: z.number().int().min(8).max(10_000).optional(),
    /** Largest message accepted from an upstream (a stdio line, an HTTP answer), in bytes. */
    maxUpstreamMessageBytes: z.number().int().min(64 * 1024).max(1024 * 1024 * 1024).optional(),
    /** Most logical sessions at once; past it a new one gets 503. */
    maxSessions: z.number().int().min(1).max(1_000_000).optional(),
    /** Most connections at once; past it a new one gets 503. */
    maxConnections: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

const fileSchema = z
  .object({
    servers: z.record(z.string(), upstreamSchema).optional(),
    mcpServers: z.record(z.string(), upstreamSchema).optional(),
    virtualServers: z.record(z.string(), virtualServerSchema).optional(),
    hub: hubSettingsSchema.optional(),
  })
  .passthrough(); // VS Code's mcp.json also has `inputs`; unknown top-level keys are left alone.

export type Selection = { include: string[]; exclude: string[] };

export type StdioUpstreamConfig = {
  type: 'stdio';
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
};
export type RemoteUpstreamConfig = { type: 'http' | 'sse'; url: string; headers: Record<string, string> };

/** How a per-session upstream's instances are kept. */
export type PerSessionPolicy = { warm: number; maxInstances: number; idleTimeoutMs: number };

export type UpstreamConfig = (StdioUpstreamConfig | RemoteUpstreamConfig) & {
  id: string;
  timeoutMs: number;
  /** Set when every logical session gets an instance of its own. */
  perSession?: PerSessionPolicy;
  safeMode: SafeModePolicy;
  /** See the schema: who gets what a single-stream upstream sends outside a response stream. */
  attribution: 'strict' | 'single-flight';
  /** `file://` URIs answered to an unattributed `roots/list` (empty: an empty list). */
  roots: string[];
};

export type NamingMode = 'prefixed' | 'bare';

export type VirtualServerConfig = {
  id: string;
  title: string;
  description?: string;
  upstreams: string[];
  tools: Selection;
  resources: Selection;
  resourceTemplates: Selection;
  prompts: Selection;
  naming: NamingMode;
  safeMode: boolean;
  /** Unset: the hub's `chatSessions`. */
  chatSessions?: ChatSessionMode;
};

export type ChatSessionMode = 'isolated' | 'workspace';

export type HubSettings = {
  sessionIdleTimeoutMs: number;
  /** `_meta` keys that name a call's chat, in order. */
  sessionKeys: string[];
  chatSessions: ChatSessionMode;
  chatSessionIdleTimeoutMs: number;
  maxBodyBytes: number;
  maxJsonDepth: number;
  maxUpstreamMessageBytes: number;
  maxSessions: number;
  maxConnections: number;
};

export type HubConfig = {
  upstreams: Map<string, UpstreamConfig>;
  virtualServers: Map<string, VirtualServerConfig>;
  settings: HubSettings;
};

export const defaultUpstreamTimeoutMs = 60_000;
/** A laptop runs a handful of browsers comfortably, not dozens. */
export const defaultPerSession: PerSessionPolicy = { warm: 1, maxInstances: 8, idleTimeoutMs: 5 * 60_000 };
export const defaultSettings: HubSettings = {
  sessionIdleTimeoutMs: 30 * 60_000,
  sessionKeys: ['vscode.conversationId'],
  chatSessions: 'isolated',
  chatSessionIdleTimeoutMs: 10 * 60_000,
  maxBodyBytes: 4 * 1024 * 1024,
  // MCP arguments are shallow; 64 levels leaves room for any real schema and none for a stack attack.
  maxJsonDepth: 64,
  // A browser screenshot is a few MiB of base64; 32 MiB keeps room for it and bounds the hub's memory.
  maxUpstreamMessageBytes: 32 * 1024 * 1024,
  maxSessions: 1_000,
  maxConnections: 2_000,
};

/** Formats a zod path as a JSON path: `servers.demo.args[0]`. */
export function formatJsonPath(path: ReadonlyArray<string | number>): string {
  return path.reduce<string>((text, part) => {
    if (typeof part === 'number') return `${text}[${part}]`;
    const plain = /^[A-Za-z_$][\w$-]*$/.test(part);
    const key = plain ? part : JSON.stringify(part);
    return text === '' ? (plain ? key : `[${key}]`) : plain ? `${text}.${key}` : `${text}[${key}]`;
  }, '');
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before[before.length - 1].length + 1}`;
}

/**
 * Parses and validates config text. Throws a `ConfigError` listing every problem with its
 * JSON path (or line and column for syntax errors), never just the first.
 */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = {}): HubConfig {
  const syntaxErrors: ParseError[] = [];
  const raw: unknown = parseJsonc(text, syntaxErrors, { allowTrailingComma: true, disallowComments: false });
  if (syntaxErrors.length > 0) {
    throw new ConfigError(
      source,
      syntaxErrors.map((e) => ({ path: lineAndColumn(text, e.offset), message: `JSON syntax: ${printParseErrorCode(e.error)}` })),
    );
  }
  return validateConfig(raw ?? {}, source, env);
}

export function validateConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = {}): HubConfig {
  const result = fileSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      source,
      result.error.issues.map((issue) => ({ path: formatJsonPath(issue.path), message: issue.message })),
    );
  }
  const file = result.data;
  const issues: ConfigIssue[] = [];
  const upstreams = new Map<string, UpstreamConfig>();

  for (const [section, entries] of [['servers', file.servers], ['mcpServers', file.mcpServers]] as const) {
    for (const [id, value] of Object.entries(entries ?? {})) {
      const path = formatJsonPath([section, id]);
      if (!idPattern.test(id)) issues.push({ path, message: `upstream id ${idMessage}` });
      if (upstreams.has(id)) issues.push({ path, message: `upstream '${id}' is defined in both servers and mcpServers` });
      const entry = value as z.infer<typeof stdioUpstream> | z.infer<typeof remoteUpstream>;
      if (entry.disabled) continue;
      (entry.roots ?? []).forEach((root, index) => {
        const expanded = expand(root, env);
        if (!expanded.startsWith('file://') && !isAbsolute(expanded)) {
          issues.push({ path: `${path}.roots[${index}]`, message: `must be an absolute path or a file:// URI (got ${JSON.stringify(root)})` });
        }
      });
      upstreams.set(id, toUpstreamConfig(id, entry, env));
    }
  }

  const virtualServers = new Map<string, VirtualServerConfig>();
  for (const [id, entry] of Object.entries(file.virtualServers ?? {})) {
    const path = formatJsonPath(['virtualServers', id]);
    if (!idPattern.test(id)) issues.push({ path, message: `virtual server id ${idMessage}` });
    entry.upstreams.forEach((upstream, index) => {
      if (!upstreams.has(upstream)) {
        const known = [...upstreams.keys()].join(', ') || 'none';
        issues.push({ path: `${path}.upstreams[${index}]`, message: `unknown upstream '${upstream}' (defined: ${known})` });
      }
    });
    virtualServers.set(id, {
      id,
      title: entry.title ?? id,
      description: entry.description,
      upstreams: [...new Set(entry.upstreams)],
      tools: toSelection(entry.tools),
      resources: toSelection(entry.resources),
      resourceTemplates: toSelection(entry.resourceTemplates),
      prompts: toSelection(entry.prompts),
      naming: entry.naming ?? 'prefixed',
      safeMode: entry.safeMode ?? true,
      ...(entry.chatSessions ? { chatSessions: entry.chatSessions } : {}),
    });
  }

  if (issues.length > 0) throw new ConfigError(source, issues);
  return {
    upstreams,
    virtualServers,
    settings: {
      sessionIdleTimeoutMs: (file.hub?.sessionIdleTimeout ?? defaultSettings.sessionIdleTimeoutMs / 1000) * 1000,
      sessionKeys: file.hub?.sessionKeys?.map((key) => key.slice('meta:'.length)) ?? defaultSettings.sessionKeys,
      chatSessions: file.hub?.chatSessions ?? defaultSettings.chatSessions,
      chatSessionIdleTimeoutMs: (file.hub?.chatSessionIdleTimeout ?? defaultSettings.chatSessionIdleTimeoutMs / 1000) * 1000,
      maxBodyBytes: file.hub?.maxBodyBytes ?? defaultSettings.maxBodyBytes,
      maxJsonDepth: file.hub?.maxJsonDepth ?? defaultSettings.maxJsonDepth,
      maxUpstreamMessageBytes: file.hub?.maxUpstreamMessageBytes ?? defaultSettings.maxUpstreamMessageBytes,
      maxSessions: file.hub?.maxSessions ?? defaultSettings.maxSessions,
      maxConnections: file.hub?.maxConnections ?? defaultSettings.maxConnections,
    },
  };
}

function toSelection(value: z.infer<typeof selectionSchema> | undefined): Selection {
  if (value === undefined) return { include: ['*'], exclude: [] };
  if (Array.isArray(value)) return { include: value, exclude: [] };
  return { include: value.include ?? ['*'], exclude: value.exclude ?? [] };
}

/**
 * Safe mode is on by default for shared upstreams. A per-session instance serves one session, so
 * what it holds (a browser's pages, say) is that session's already: off unless the config says so
 * (an instance that acts on shared outside state, such as a database, should say so).
 */
function toSafeModePolicy(value: z.infer<typeof stdioUpstream>['safeMode'], perSession: boolean): SafeModePolicy {
  if (value === undefined || typeof value === 'boolean') return { enabled: value ?? !perSession, tools: {} };
  return { enabled: value.enabled ?? true, tools: value.tools ?? {} };
}

/**
 * `${env:NAME}`, `${userHome}` and `${workspaceFolder}` (the hub's working directory headless)
 * are expanded, as in VS Code's mcp.json. `${sessionId}` and `${instanceDir}` stay: each
 * per-session instance fills them in when it starts.
 */
function expand(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\{(env:([A-Za-z_][A-Za-z0-9_]*)|userHome|workspaceFolder)\}/g, (_match, whole: string, name: string | undefined) => {
    if (name) return env[name] ?? '';
    if (whole === 'workspaceFolder') return env.PWD ?? process.cwd();
    return env.HOME ?? env.USERPROFILE ?? '';
  });
}

/** A configured root as a `file://` URI: absolute paths are turned into one, URIs kept. */
function toRootUri(root: string): string {
  return root.startsWith('file://') ? root : pathToFileURL(root).href;
}

function expandRecord(record: Record<string, string> | undefined, env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(record ?? {}).map(([k, v]) => [k, expand(v, env)]));
}

function toUpstreamConfig(
  id: string,
  entry: z.infer<typeof stdioUpstream> | z.infer<typeof remoteUpstream>,
  env: NodeJS.ProcessEnv,
): UpstreamConfig {
  const common = {
    id,
    timeoutMs: entry.timeout ?? defaultUpstreamTimeoutMs,
    perSession:
      (entry.perSession ?? entry.perSessionClient)
        ? {
            warm: entry.warm ?? defaultPerSession.warm,
            maxInstances: entry.maxInstances ?? defaultPerSession.maxInstances,
            idleTimeoutMs: (entry.idleTimeout ?? defaultPerSession.idleTimeoutMs / 1000) * 1000,
          }
        : undefined,
    safeMode: toSafeModePolicy(entry.safeMode, (entry.perSession ?? entry.perSessionClient) === true),
    attribution: entry.attribution ?? 'strict',
    roots: (entry.roots ?? []).map((root) => toRootUri(expand(root, env))),
  };
  if ('url' in entry && (entry.type === 'http' || entry.type === 'sse')) {
    return { ...common, type: entry.type, url: expand(entry.url, env), headers: expandRecord(entry.headers, env) };
  }
  const stdio = entry as z.infer<typeof stdioUpstream>;
  return {
    ...common,
    type: 'stdio',
    command: expand(stdio.command, env),
    args: (stdio.args ?? []).map((arg) => expand(arg, env)),
    env: expandRecord(stdio.env, env),
    cwd: stdio.cwd === undefined ? undefined : expand(stdio.cwd, env),
  };
}

/** A stable fingerprint of one upstream's config: equal fingerprints need no restart on reload. */
export function upstreamFingerprint(upstream: UpstreamConfig): string {
  // Roots change without a restart: the upstream is told with roots/list_changed.
  return stableStringify({ ...upstream, roots: undefined });
}
