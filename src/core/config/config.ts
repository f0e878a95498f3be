import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseEnv } from 'node:util';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { z } from 'zod';
import { defaultActivitySettings, type ActivitySettings, type TelemetrySettings } from '../infra/activity';
import { inputEnvVarName, VariableResolver, type InputDeclaration } from './configVariables';
import { ConfigError, type ConfigIssue } from '../infra/errors';
import { upstreamNamePrefix } from '../scoping/naming';
import type { SafeModePolicy } from '../sessions/safeMode';
import { safeModeProfileNames } from '../sessions/safeModeProfiles';
import { stableStringify } from '../infra/stableJson';

/**
 * The hub's config file: VS Code's `mcp.json` (`servers`) or Claude's (`mcpServers`),
 * plus the hub's own `virtualServers` and `hub` sections. Comments and trailing commas
 * are allowed, as VS Code allows them in `mcp.json`.
 */

const idPattern = /^[A-Za-z0-9_-]{1,32}$/;
const idMessage = 'must be 1-32 characters of A-Z, a-z, 0-9, _ or -';
/** Upstream ids as VS Code, Claude and Cursor allow them (`io.github.owner/server` included); names use `upstreamNamePrefix`. */
const upstreamIdPattern = /^[A-Za-z0-9_.@/-]{1,100}$/;
const upstreamIdMessage = 'must be 1-100 characters of A-Z, a-z, 0-9, _, -, ., @ or /';

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
                  kind: z.enum(['create', 'destructive', 'guarded', 'additive', 'read', 'command', 'other']).optional(),
                  // A property name, or a JSON pointer with `*` for each array item: `/deletions/*/entityName`.
                  idArguments: z
                    .array(z.string().regex(/^(?:[^/]+|(?:\/[^/]+)+)$/, 'must be a property name or a JSON pointer such as "/items/*/id" (no empty segment)'))
                    .optional(),
                  idPaths: z.array(z.string()).optional(),
                  idPattern: z.string().refine(isValidRegExp, 'must be a valid regular expression').optional(),
                  /** For a `command` tool: the argument holding the command, shown when the call is asked. */
                  commandArgument: z.string().min(1).optional(),
                })
                .strict(),
            )
            .optional(),
          /** A shipped profile by name (`desktop-commander`, `filesystem`, `memory`, `playwright`, `github`), or `false` for none. Unset: matched by the server's name. */
          profile: z.union([z.literal(false), z.enum(safeModeProfileNames)]).optional(),
          /** A read-only tool that errs (ENOENT) for a path that does not exist, asked before a creating call; `false`: never ask. */
          existenceProbe: z.union([z.literal(false), z.object({ tool: z.string().min(1), argument: z.string().min(1) }).strict()]).optional(),
          /** The platform the server's paths follow. Unset: the hub's own for a local server, both for a remote one. */
          platform: z.enum(['posix', 'windows']).optional(),
          /** Paths differing only in letter case are the same file. Unset: true on macOS and Windows. */
          caseInsensitivePaths: z.boolean().optional(),
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
    /** A dotenv file, relative to this config file; `env` wins over it. */
    envFile: z.string().min(1).optional(),
    cwd: z.string().optional(),
    ...upstreamCommon,
  })
  .passthrough();

/** Every spelling of a remote type people copy; `http` and its aliases are Streamable HTTP. */
const remoteTypes = ['http', 'sse', 'streamable-http', 'streamableHttp'] as const;
type RemoteType = (typeof remoteTypes)[number];
const isRemoteType = (type: unknown): type is RemoteType => remoteTypes.includes(type as RemoteType);

const remoteUpstream = z
  .object({
    /** Absent with a `url` (Cursor's and Claude's shape): Streamable HTTP, falling back to SSE. */
    type: z.enum(remoteTypes).optional(),
    // A URL with variables is checked again once they are resolved.
    url: z.string().refine((url) => url.includes('${') || isHttpUrl(url), 'must be an absolute http(s) URL'),
    headers: z.record(z.string(), z.string()).optional(),
    /** Signing in with OAuth; without it the hub still discovers the server's sign-in on its first 401. */
    oauth: z
      .object({
        /** A pre-registered client's id (used before a client metadata document or dynamic registration). */
        clientId: z.string().min(1).optional(),
        /** A confidential pre-registered client's secret; use `${input:…}` or `${env:…}` rather than a literal. */
        clientSecret: z.string().min(1).optional(),
        /** How the client authenticates at the token endpoint; unset, the best the server supports. */
        tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
        /** An https URL of this client's metadata document (SEP-991), used when the server supports it. */
        clientMetadataUrl: z.string().refine(isHttpsUrlWithPath, 'must be an https URL with a path').optional(),
        /** Scopes asked for when the server names none (in WWW-Authenticate or scopes_supported). */
        scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a scope token (no spaces or quotes)')).optional(),
        /** A fixed port on 127.0.0.1 for the sign-in redirect, for a client registered with one redirect URI. */
        callbackPort: z.number().int().min(1).max(65535).optional(),
      })
      .strict()
      .optional(),
    ...upstreamCommon,
  })
  .passthrough();

function isHttpsUrlWithPath(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' && url.pathname !== '/';
  } catch {
    return false;
  }
}

const upstreamSchema = z.unknown().superRefine((value, ctx) => {
  // Pick the variant from `type` (or `command`), so errors speak of the fields that variant needs.
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  if (!record) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an object' });
    return;
  }
  const type = record.type;
  const urlOnly = type === undefined && record.command === undefined && record.url !== undefined;
  const schema = isRemoteType(type) || urlOnly ? remoteUpstream : type === undefined || type === 'stdio' ? stdioUpstream : undefined;
  if (!schema) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['type'],
      message: `must be "stdio", "http", "sse", "streamable-http" or "streamableHttp" (got ${JSON.stringify(type)})`,
    });
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
     * chat, Codex `_meta.threadId` and `_meta["x-codex-turn-metadata"].thread_id`): `meta:<key>`
     * entries, tried in order; a dot that is not part of a key descends into an object. Each chat
     * gets a session of its own inside its connection's session. `[]` turns chat sessions off.
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
    /** The activity log: records kept in memory, argument size, masked names, the audit trail on disk. */
    activity: z
      .object({
        buffer: z.number().int().min(1).max(1_000_000).optional(),
        maxArgumentChars: z.number().int().min(0).max(1_000_000).optional(),
        /** Property names whose values are masked in records, besides token, password, apiKey, authorization, … */
        redact: z.array(z.string().min(1)).optional(),
        audit: z
          .object({
            enabled: z.boolean().optional(),
            /** Bytes at which the audit file is rotated. */
            maxFileBytes: z.number().int().min(1024).optional(),
            /** Rotated files kept. */
            files: z.number().int().min(0).max(1000).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /** OpenTelemetry export over OTLP/HTTP; `OTEL_EXPORTER_OTLP_ENDPOINT` turns it on as well. Off by default. */
    telemetry: z
      .object({
        endpoint: z.string().url().optional(),
        protocol: z.enum(['http/protobuf', 'http/json']).optional(),
        metricsInterval: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    safeMode: z
      .object({
        /**
         * Seconds after its session ended that what it owned is released by itself. Unset: kept as
         * long as the ledger, until a human releases it.
         */
        retainEnded: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    /**
     * Milliseconds the ready line, and a list, wait at most for upstreams still in their first
     * try; past it they come anyway, with what is ready (the rest is announced by list_changed).
     */
    readyWaitMs: z.number().int().min(0).max(600_000).optional(),
    /** Bytes queued to one client that does not read, past which its progress is coalesced, its logs dropped, and a result closes it. */
    maxQueuedBytesPerConnection: z.number().int().min(1024 * 1024).max(4 * 1024 * 1024 * 1024).optional(),
    /** The same, for every client of the hub together. */
    maxQueuedBytes: z.number().int().min(1024 * 1024).max(16 * 1024 * 1024 * 1024).optional(),
  })
  .strict();

/** VS Code's `inputs`: values asked of the user and referenced as `${input:id}`. */
const inputSchema = z
  .object({
    type: z.enum(['promptString', 'pickString'], {
      errorMap: () => ({ message: 'must be "promptString" or "pickString" (command inputs cannot run outside VS Code)' }),
    }),
    id: z.string().min(1),
    description: z.string().optional(),
    password: z.boolean().optional(),
    default: z.string().optional(),
    options: z.array(z.union([z.string(), z.object({ label: z.string().optional(), value: z.string() })])).optional(),
  })
  .passthrough();

const fileSchema = z
  .object({
    inputs: z.array(inputSchema).optional(),
    servers: z.record(z.string(), upstreamSchema).optional(),
    mcpServers: z.record(z.string(), upstreamSchema).optional(),
    virtualServers: z.record(z.string(), virtualServerSchema).optional(),
    hub: hubSettingsSchema.optional(),
    /** Where safe mode's ownership is kept: `embedded` (default, a file in the hub's state folder) or `redis`, shared by several hubs. */
    ledger: z
      .discriminatedUnion('store', [
        z.object({ store: z.literal('embedded') }).strict(),
        z
          .object({
            store: z.literal('redis'),
            /** `redis://[user:password@]host:port[/db]`; `${env:NAME}` works here. */
            url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
            /** Every key starts with this, so several hubs' configs can share one Redis. */
            prefix: z.string().max(100).optional(),
          })
          .strict(),
      ])
      .optional(),
  })
  .passthrough(); // Unknown top-level keys (Claude Code's `projects`, say) are left alone.

/**
 * The `inputs` a config text declares, read on their own: a host fetches their stored values
 * before the whole file is loaded with them. Malformed entries are left to the loader to report.
 */
export function readDeclaredInputs(text: string): InputDeclaration[] {
  const raw = parseJsonc(text, [], { allowTrailingComma: true }) as { inputs?: unknown } | undefined;
  const inputs = Array.isArray(raw?.inputs) ? (raw.inputs as unknown[]) : [];
  return inputs.flatMap((input) => {
    const parsed = inputSchema.safeParse(input);
    return parsed.success ? [parsed.data] : [];
  });
}

/**
 * The file's shape for editors: the JSON schema VS Code checks the file with is generated from
 * this (see configSchema.ts). The same schemas as the loader's, with an upstream written as the
 * union of its variants, since the loader picks the variant in code.
 */
export const configFileShape = fileSchema.extend({
  $schema: z.string().optional(),
  servers: z.record(z.string(), z.union([stdioUpstream, remoteUpstream])).optional().describe('MCP servers, as in VS Code\'s mcp.json'),
  mcpServers: z.record(z.string(), z.union([stdioUpstream, remoteUpstream])).optional().describe('MCP servers, as Claude and Cursor write them'),
});

export type Selection = { include: string[]; exclude: string[] };

export type StdioUpstreamConfig = {
  type: 'stdio';
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
};
export type RemoteUpstreamConfig = {
  type: 'http' | 'sse';
  url: string;
  headers: Record<string, string>;
  /** An entry with only a `url`: if the Streamable HTTP initialize is refused, try legacy SSE (as VS Code does). */
  sseFallback?: boolean;
  /** The entry's `oauth`, its variables resolved; absent, the hub still signs in when the server asks. */
  oauth?: OAuthSettings;
};

/** How the hub signs in to a remote upstream (see the schema's `oauth`). */
export type OAuthSettings = {
  clientId?: string;
  clientSecret?: string;
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
  clientMetadataUrl?: string;
  scopes?: string[];
  callbackPort?: number;
};

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
  /**
   * Why the upstream cannot start now (an input without a value, an unset environment variable,
   * an unreadable envFile): it is not started, and this is its error.
   */
  cannotStart?: string;
  /** The `${input:…}` ids its entry uses. */
  inputs: string[];
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
  /** Milliseconds an ended session's ownership is kept; undefined: until a human releases it. */
  retainEndedMs?: number;
  readyWaitMs: number;
  maxQueuedBytesPerConnection: number;
  maxQueuedBytes: number;
  activity: ActivitySettings;
  telemetry?: TelemetrySettings;
};

/** Where ownership is kept: the hub's own file, or a Redis that several hubs share. */
export type LedgerConfig = { store: 'embedded' } | { store: 'redis'; url: string; prefix: string };

export type HubConfig = {
  upstreams: Map<string, UpstreamConfig>;
  ledger: LedgerConfig;
  virtualServers: Map<string, VirtualServerConfig>;
  settings: HubSettings;
  /** The file's `inputs`, by id. */
  inputs: Map<string, InputDeclaration>;
};

/** What a config's variables resolve against; every field is optional. */
export type ConfigContext = {
  /** `${env:NAME}`, `MCP_SESSION_HUB_INPUT_<ID>`, and `HOME` for `${userHome}`. */
  env?: NodeJS.ProcessEnv;
  /** Input values given by the host (`--input id=value`, VS Code's SecretStorage); win over the environment. */
  inputs?: Readonly<Record<string, string>>;
  /** `${workspaceFolder}`; unset, the variable has no value and an upstream using it does not start. */
  workspaceFolder?: string;
  /** What to tell the user about an input without a value; the default names the CLI's ways. */
  howToGiveInput?: (id: string) => string;
};

export const defaultUpstreamTimeoutMs = 60_000;
/** A laptop runs a handful of browsers comfortably, not dozens. */
export const defaultPerSession: PerSessionPolicy = { warm: 1, maxInstances: 8, idleTimeoutMs: 5 * 60_000 };
export const defaultSettings: HubSettings = {
  sessionIdleTimeoutMs: 30 * 60_000,
  sessionKeys: ['vscode.conversationId', 'threadId', 'x-codex-turn-metadata.thread_id'],
  chatSessions: 'isolated',
  chatSessionIdleTimeoutMs: 10 * 60_000,
  maxBodyBytes: 4 * 1024 * 1024,
  // MCP arguments are shallow; 64 levels leaves room for any real schema and none for a stack attack.
  maxJsonDepth: 64,
  // A browser screenshot is a few MiB of base64; 32 MiB keeps room for it and bounds the hub's memory.
  maxUpstreamMessageBytes: 32 * 1024 * 1024,
  maxSessions: 1_000,
  maxConnections: 2_000,
  // Long enough for a local server to start, short enough that one slow `npx -y` holds up nothing.
  readyWaitMs: 5_000,
  // A client that does not read may pin this much of a laptop's memory, one of them or all together;
  // one result into an empty queue always fits (it is bounded by maxUpstreamMessageBytes).
  maxQueuedBytesPerConnection: 64 * 1024 * 1024,
  maxQueuedBytes: 256 * 1024 * 1024,
  activity: defaultActivitySettings,
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
 * JSON path (or line and column for syntax errors), never just the first. `source` is the file's
 * path: an `envFile` is relative to it.
 */
export function parseConfig(text: string, source: string, context: ConfigContext = {}): HubConfig {
  const syntaxErrors: ParseError[] = [];
  const raw: unknown = parseJsonc(text, syntaxErrors, { allowTrailingComma: true, disallowComments: false });
  if (syntaxErrors.length > 0) {
    throw new ConfigError(
      source,
      syntaxErrors.map((e) => ({ path: lineAndColumn(text, e.offset), message: `JSON syntax: ${printParseErrorCode(e.error)}` })),
    );
  }
  return validateConfig(raw ?? {}, source, context);
}

type UpstreamEntry = z.infer<typeof stdioUpstream> | z.infer<typeof remoteUpstream>;

export function validateConfig(raw: unknown, source: string, context: ConfigContext = {}): HubConfig {
  const result = fileSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      source,
      result.error.issues.map((issue) => ({ path: formatJsonPath(issue.path), message: issue.message })),
    );
  }
  const file = result.data;
  const issues: ConfigIssue[] = [];
  const env = context.env ?? {};
  const inputs = new Map<string, InputDeclaration>();
  (file.inputs ?? []).forEach((input, index) => {
    if (inputs.has(input.id)) issues.push({ path: `inputs[${index}].id`, message: `input '${input.id}' is declared twice` });
    inputs.set(input.id, input);
  });
  const sources = {
    env,
    userHome: env.HOME ?? env.USERPROFILE ?? homedir(),
    workspaceFolder: context.workspaceFolder,
    inputs,
    inputValue: (id: string) => context.inputs?.[id] ?? env[inputEnvVarName(id)] ?? inputs.get(id)?.default,
    howToGiveInput: context.howToGiveInput ?? ((id: string) => `set ${inputEnvVarName(id)} or pass --input ${id}=VALUE`),
  };
  const upstreams = new Map<string, UpstreamConfig>();
  const prefixes = new Map<string, string>();

  for (const [section, entries] of [['servers', file.servers], ['mcpServers', file.mcpServers]] as const) {
    for (const [id, value] of Object.entries(entries ?? {})) {
      const path = formatJsonPath([section, id]);
      if (!upstreamIdPattern.test(id)) issues.push({ path, message: `upstream id ${upstreamIdMessage}` });
      if (upstreams.has(id)) issues.push({ path, message: `upstream '${id}' is defined in both servers and mcpServers` });
      const entry = value as UpstreamEntry;
      if (entry.disabled) continue;
      const prefix = upstreamNamePrefix(id);
      const sharing = prefixes.get(prefix);
      if (sharing !== undefined && sharing !== id) issues.push({ path, message: `upstream '${id}' and '${sharing}' both name their tools '${prefix}__…'; rename one` });
      prefixes.set(prefix, id);
      const resolver = new VariableResolver(sources);
      const upstream = toUpstreamConfig(id, entry, path, resolver, source);
      issues.push(...resolver.issues);
      if (resolver.missing.length > 0) upstream.cannotStart = resolver.missing.join('; ');
      upstreams.set(id, upstream);
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

  let ledger: LedgerConfig = { store: 'embedded' };
  if (file.ledger?.store === 'redis') {
    const resolver = new VariableResolver(sources);
    const url = resolver.resolve(file.ledger.url, 'ledger.url');
    issues.push(...resolver.issues, ...resolver.missing.map((message) => ({ path: 'ledger.url', message })));
    ledger = { store: 'redis', url, prefix: file.ledger.prefix ?? 'mcp-session-hub:' };
  }
  if (issues.length > 0) throw new ConfigError(source, issues);
  return {
    upstreams,
    ledger,
    virtualServers,
    inputs,
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
      ...(file.hub?.safeMode?.retainEnded === undefined ? {} : { retainEndedMs: file.hub.safeMode.retainEnded * 1000 }),
      readyWaitMs: file.hub?.readyWaitMs ?? defaultSettings.readyWaitMs,
      maxQueuedBytesPerConnection: file.hub?.maxQueuedBytesPerConnection ?? defaultSettings.maxQueuedBytesPerConnection,
      maxQueuedBytes: file.hub?.maxQueuedBytes ?? defaultSettings.maxQueuedBytes,
      activity: {
        bufferSize: file.hub?.activity?.buffer ?? defaultActivitySettings.bufferSize,
        maxArgumentChars: file.hub?.activity?.maxArgumentChars ?? defaultActivitySettings.maxArgumentChars,
        redact: file.hub?.activity?.redact ?? [],
        audit: { ...defaultActivitySettings.audit, ...file.hub?.activity?.audit },
      },
      ...(file.hub?.telemetry
        ? { telemetry: { endpoint: file.hub.telemetry.endpoint, protocol: file.hub.telemetry.protocol, metricsIntervalMs: file.hub.telemetry.metricsInterval === undefined ? undefined : file.hub.telemetry.metricsInterval * 1000 } }
        : {}),
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
  const { enabled, tools, ...rest } = value;
  return { enabled: enabled ?? true, tools: tools ?? {}, ...rest };
}

/** A configured root as a `file://` URI: absolute paths are turned into one, URIs kept. */
function toRootUri(root: string): string {
  return root.startsWith('file://') ? root : pathToFileURL(root).href;
}

/**
 * The variables of a dotenv file, relative to the config file (as VS Code reads `envFile`). An
 * unreadable file is why the upstream cannot start, not a config error: it may appear later.
 */
function readEnvFile(envFile: string, path: string, resolver: VariableResolver, source: string): Record<string, string> {
  const missingBefore = resolver.missing.length;
  const file = resolvePath(isAbsolute(source) ? dirname(source) : process.cwd(), resolver.resolve(envFile, path));
  if (resolver.missing.length > missingBefore) return {};
  try {
    return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch (error) {
    resolver.missing.push(`envFile ${file} at ${path} cannot be read: ${(error as Error).message}`);
    return {};
  }
}

function toUpstreamConfig(id: string, entry: UpstreamEntry, path: string, resolver: VariableResolver, source: string): UpstreamConfig {
  const perSession = (entry.perSession ?? entry.perSessionClient) === true;
  const roots = (entry.roots ?? []).map((root, index) => {
    const at = `${path}.roots[${index}]`;
    const missingBefore = resolver.missing.length;
    const resolved = resolver.resolve(root, at);
    // A root still waiting for a variable's value is that upstream's problem, not the file's.
    if (resolver.missing.length === missingBefore && !resolved.startsWith('file://') && !isAbsolute(resolved)) {
      resolver.issues.push({ path: at, message: `must be an absolute path or a file:// URI (got ${JSON.stringify(root)})` });
    }
    return resolved;
  });
  const common = {
    id,
    timeoutMs: entry.timeout ?? defaultUpstreamTimeoutMs,
    perSession: perSession
      ? {
          warm: entry.warm ?? defaultPerSession.warm,
          maxInstances: entry.maxInstances ?? defaultPerSession.maxInstances,
          idleTimeoutMs: (entry.idleTimeout ?? defaultPerSession.idleTimeoutMs / 1000) * 1000,
        }
      : undefined,
    safeMode: toSafeModePolicy(entry.safeMode, perSession),
    attribution: entry.attribution ?? 'strict',
    roots: resolver.missing.length > 0 ? [] : roots.filter((root) => root.startsWith('file://') || isAbsolute(root)).map(toRootUri),
    inputs: [] as string[],
  };
  let upstream: UpstreamConfig;
  if ((entry.type !== undefined && entry.type !== 'stdio') || !('command' in entry)) {
    const remote = entry as z.infer<typeof remoteUpstream>;
    const url = resolver.resolve(remote.url, `${path}.url`);
    if (!url.includes('${') && !isHttpUrl(url)) resolver.issues.push({ path: `${path}.url`, message: `must be an absolute http(s) URL (got ${JSON.stringify(url)})` });
    upstream = {
      ...common,
      type: remote.type === 'sse' ? 'sse' : 'http',
      url,
      headers: resolver.resolveRecord(remote.headers, `${path}.headers`),
      ...(remote.type === undefined ? { sseFallback: true } : {}),
      ...(remote.oauth ? { oauth: toOAuthSettings(remote.oauth, `${path}.oauth`, resolver) } : {}),
    };
  } else {
    const stdio = entry as z.infer<typeof stdioUpstream>;
    const fromFile = stdio.envFile === undefined ? {} : readEnvFile(stdio.envFile, `${path}.envFile`, resolver, source);
    upstream = {
      ...common,
      type: 'stdio',
      command: resolver.resolve(stdio.command, `${path}.command`),
      args: (stdio.args ?? []).map((arg, index) => resolver.resolve(arg, `${path}.args[${index}]`)),
      env: { ...fromFile, ...resolver.resolveRecord(stdio.env, `${path}.env`) },
      cwd: stdio.cwd === undefined ? undefined : resolver.resolve(stdio.cwd, `${path}.cwd`),
    };
  }
  upstream.inputs = [...resolver.usedInputs];
  return upstream;
}

function toOAuthSettings(oauth: NonNullable<z.infer<typeof remoteUpstream>['oauth']>, path: string, resolver: VariableResolver): OAuthSettings {
  const settings: OAuthSettings = { ...oauth };
  if (oauth.clientId !== undefined) settings.clientId = resolver.resolve(oauth.clientId, `${path}.clientId`);
  if (oauth.clientSecret !== undefined) settings.clientSecret = resolver.resolve(oauth.clientSecret, `${path}.clientSecret`);
  if (oauth.clientSecret !== undefined && oauth.clientId === undefined) resolver.issues.push({ path: `${path}.clientSecret`, message: 'needs oauth.clientId: a secret belongs to a pre-registered client' });
  if (oauth.tokenEndpointAuthMethod !== undefined && oauth.tokenEndpointAuthMethod !== 'none' && oauth.clientSecret === undefined) {
    resolver.issues.push({ path: `${path}.tokenEndpointAuthMethod`, message: `"${oauth.tokenEndpointAuthMethod}" needs oauth.clientSecret` });
  }
  return settings;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** A stable fingerprint of one upstream's config: equal fingerprints need no restart on reload. */
export function upstreamFingerprint(upstream: UpstreamConfig): string {
  // Roots change without a restart: the upstream is told with roots/list_changed.
  return stableStringify({ ...upstream, roots: undefined });
}
