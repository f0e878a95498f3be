import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ConfigContext, HubConfig } from '../core/config/config';
import { loadConfigFile, watchConfigFile } from '../core/config/configFile';
import { defaultConfig } from '../core/config/defaultConfig';
import type { Disposable } from '../core/infra/lifecycle';
import type { Logger } from '../core/infra/logger';
import { AuditTrail, auditFolder } from '../hub/auditTrail';
import { Hub, hubVersion } from '../hub/hub';
import { Telemetry } from '../hub/telemetry';
import { OwnershipJournal } from '../hub/ownershipJournal';
import { RedisOwnership } from '../hub/redisOwnership';
import type { SecretStore } from '../upstream/oauth/secretStore';
import { startGateway, type RunningGateway } from './gateway';
import { SavedConnections } from './savedConnections';
import { assertDistinctTokens } from './security';

export type RunHubOptions = {
  /** A config file to load and watch; without it the embedded default runs. */
  configPath?: string;
  /** A config given directly (tests, embedders); wins over configPath. */
  config?: HubConfig;
  /**
   * What the file's variables resolve against (workspace folder, input values); read again on
   * every reload, so a host can give a value it learnt since.
   */
  configContext?: () => ConfigContext;
  /** The client token, for MCP endpoints. */
  token: string;
  /** The admin token, for `/admin/*` only; must differ from `token`. */
  adminToken: string;
  logger: Logger;
  host?: string;
  port?: number;
  allowedOrigins?: string[];
  upstreamBackoffMs?: number;
  /**
   * The file the ownership ledger is kept in, so owners survive a restart (the CLI: next to its
   * token files; VS Code: its global storage); the hub's open connections are kept beside it.
   * Unset: memory only, and a restart ends every connection.
   */
  ledgerPath?: string;
  /** A Redis several hubs share ownership in (`MCP_SESSION_HUB_LEDGER_URL`); the config's `ledger` wins. */
  ledgerUrl?: string;
  /** Where OAuth tokens of remote upstreams are kept (the CLI: a 0600 file; VS Code: SecretStorage); unset, in memory. */
  secretStore?: SecretStore;
  /**
   * The folder the audit trail is written in (`activity.jsonl`, rotated); unset: `audit/` beside
   * `ledgerPath`, or none when that is unset too. The config's `hub.activity.audit.enabled` turns it off.
   */
  auditFolder?: string;
  /** Where OpenTelemetry reads `OTEL_EXPORTER_OTLP_*` from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
};

export type RunningHub = {
  hub: Hub;
  gateway: RunningGateway;
  /** Upstreams still in their first try when `hub.readyWaitMs` ran out (their lists follow by list_changed). */
  starting: string[];
  /** Reads the config file again now (as a change would), with the context as it is now: a host learnt an input's value. */
  reload(): Promise<void>;
  close(): Promise<void>;
};

/** The demo upstream next to this code: `dist/demo-server.js` when bundled, else the compiled source. */
export function demoServerPath(): string {
  const bundled = join(__dirname, 'demo-server.js');
  return existsSync(bundled) ? bundled : join(__dirname, '..', 'demo', 'demoServer.js');
}

/**
 * A hub with its HTTP edge and, for a config file, a watcher that applies valid changes and
 * keeps the last good config when the file turns invalid. Throws `ConfigError` when the
 * initial file is invalid: a hub never starts on a config it could not read.
 */
export async function runHub(options: RunHubOptions): Promise<RunningHub> {
  const { logger } = options;
  assertDistinctTokens(options.token, options.adminToken); // before any upstream starts
  const source = options.config ? 'given config' : (options.configPath ?? 'embedded default config');
  const load = (path: string) => loadConfigFile(path, options.configContext?.());
  const config = options.config ?? (options.configPath ? load(options.configPath) : defaultConfig(demoServerPath()));
  // One store of ownership: a Redis that several hubs share, or this hub's own file.
  const redisUrl = config.ledger.store === 'redis' ? config.ledger.url : options.ledgerUrl;
  const shared = redisUrl === undefined ? undefined : new RedisOwnership(redisUrl, config.ledger.store === 'redis' ? config.ledger.prefix : 'mcp-session-hub:', logger.child('ownership'));
  const journal = shared || options.ledgerPath === undefined ? undefined : OwnershipJournal.open(options.ledgerPath, logger.child('ownership'));
  const telemetry = Telemetry.create(options.env ?? process.env, config.settings.telemetry, hubVersion, logger.child('otel'));
  const hub = new Hub({
    config,
    configSource: source,
    logger,
    upstreamBackoffMs: options.upstreamBackoffMs,
    secretStore: options.secretStore,
    telemetry,
    ...(journal ? { ownership: { store: journal.journal, records: journal.records } } : shared ? { ownership: { shared } } : {}),
  });
  journal?.journal.attach(hub.sessions.ownership);
  // The audit trail takes every activity record; a failed write is counted, never felt by a call.
  const folder = options.auditFolder ?? (options.ledgerPath === undefined ? undefined : auditFolder(dirname(options.ledgerPath)));
  const audit = folder === undefined || !config.settings.activity.audit.enabled ? undefined : new AuditTrail(folder, config.settings.activity.audit, logger.child('audit'), (count) => hub.metrics.auditDropped(count));
  const auditing = audit ? hub.activity.onDidAdd((record) => audit.append(record)) : undefined;
  const savedConnections =
    options.ledgerPath === undefined
      ? undefined
      : new SavedConnections(join(dirname(options.ledgerPath), 'connections.json'), logger.child('connections'), () => hub.config.settings.maxConnections);
  hub.start();

  // Listen first: /healthz and every client are answered while upstreams start.
  let gateway: RunningGateway;
  let starting: string[];
  try {
    gateway = await startGateway({
      hub,
      token: options.token,
      adminToken: options.adminToken,
      logger,
      host: options.host,
      port: options.port,
      allowedOrigins: options.allowedOrigins,
      ...(savedConnections ? { savedConnections } : {}),
      ...(audit ? { audit } : {}),
    });
    // Ready means ready, within a bound: the caller hears of it once every upstream has had its
    // first try, or after hub.readyWaitMs with the names of those still starting.
    starting = await hub.settled();
  } catch (error) {
    await hub.close();
    auditing?.dispose();
    await audit?.close();
    await telemetry.shutdown();
    journal?.journal.close();
    await shared?.close();
    throw error;
  }

  let watcher: Disposable | undefined;
  const { configPath } = options;
  const reload = async (): Promise<void> => {
    if (!configPath || options.config) return;
    let next: HubConfig;
    try {
      next = load(configPath);
    } catch (error) {
      hub.recordConfigError(error);
      return;
    }
    await hub.applyConfig(next, configPath).catch(() => undefined); // refusals are recorded by the hub
  };
  if (configPath && !options.config) watcher = watchConfigFile(configPath, () => void reload());

  return {
    hub,
    gateway,
    starting,
    reload,
    async close() {
      watcher?.dispose();
      // Connections end with the process, not for their clients: they are served again after a restart.
      savedConnections?.freeze();
      await hub.close();
      await gateway.close();
      auditing?.dispose();
      await audit?.close();
      await telemetry.shutdown(logger);
      journal?.journal.close();
      await shared?.close();
    },
  };
}
