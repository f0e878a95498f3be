import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { hubConfigJsonSchema } from '../core/config/configSchema';
import { ConfigError } from '../core/infra/errors';
import { createLogger, errorMessage, type Logger, type LogLevel } from '../core/infra/logger';
import { hubVersion } from '../hub/hub';
import { isLoopbackHost } from '../http/security';
import { runHub } from '../http/runHub';
import { commandHelp, readCommandLine, refuseArguments, schemaUsage } from './commandLine';
import { FileSecretStore } from '../upstream/oauth/secretStore';
import { importOptions, importUsage, ImportUsageError, runImport } from './importCommand';
import { ActivityUsageError, activityUsage, runActivity } from './activityCommand';
import { LoginUsageError, loginUsage, runLogin, signInLines, signInUrls } from './loginCommand';
import { LogFile } from './logFile';
import { OutputSink } from './outputSink';
import { defaultTokenFolder, resolveToken, TokenFileError } from './tokenFiles';
import { auditFolder } from '../hub/auditTrail';

export const defaultPort = 7337;
export const tokenEnvVar = 'MCP_SESSION_HUB_TOKEN';
export const adminTokenEnvVar = 'MCP_SESSION_HUB_ADMIN_TOKEN';
export const defaultTokenFile = join(defaultTokenFolder, 'token');
/** The admin token's file is named this, next to the client token's file unless told otherwise. */
export const adminTokenFileName = 'admin-token';
export const ledgerFileName = 'ownership.journal';
/** How long SIGTERM / SIGINT wait for a clean shutdown before the process exits anyway. */
export const shutdownGraceMs = 10_000;

// The CLI's two outputs. A dead reader (a supervisor restarting, `| tee` killed) makes them fail
// with EPIPE; the hub then goes on silently instead of failing, or logging the failure, forever.
// With `serve --log-file`, what they would have printed goes to that file instead; else it is dropped.
let logFile: LogFile | undefined;
const failedNote = (name: string, error: Error) => `${new Date().toISOString()} warn  ${name} failed (${errorMessage(error)}): its output ${logFile ? `goes to ${logFile.path}` : 'is dropped'}\n`;
const stderr = new OutputSink(process.stderr, (error) => logFile?.write(failedNote('stderr', error)));
const stdout = new OutputSink(process.stdout, (error) => stderr.write(failedNote('stdout', error)));

const usage = `mcp-session-hub ${hubVersion}: a local multi-session MCP gateway

Usage:
  mcp-session-hub serve [options]
${importUsage}
${schemaUsage}
${loginUsage}
${activityUsage}

Options:
  --config FILE        hub config (mcp.json "servers"/"mcpServers" + "virtualServers");
                       without it, an embedded demo config runs
  --port N             port on 127.0.0.1 (default ${defaultPort}; 0 picks a free one)
  --host H             address to bind (default 127.0.0.1; anything else is exposed to the network)
  --token T            client token, for MCP endpoints (else $${tokenEnvVar}, else the token file);
                       other local users can read a flag in /proc/<pid>/cmdline: prefer those
  --token-file F       where the generated client token is kept (default ${defaultTokenFile})
  --admin-token T      admin token, for /admin/* only; must differ from the client token
                       (else $${adminTokenEnvVar}, else the admin token file)
  --admin-token-file F where the generated admin token is kept (default ${adminTokenFileName} in the
                       token file's folder: ${join(dirname(defaultTokenFile), adminTokenFileName)})
  --ledger FILE        where safe mode's ownership is kept across restarts (default ${ledgerFileName} in
                       the token file's folder)
  --allow-origin O     a browser Origin to accept besides loopback ones (repeatable)
  --input ID=VALUE     the value of the config's \${input:ID} (repeatable; else
                       $MCP_SESSION_HUB_INPUT_<ID>, else the input's default; without one,
                       the upstreams that use it do not start)
  --workspace DIR      what \${workspaceFolder} is (default: the current directory)
  --json               print one JSON line when ready, for scripts
  --log-level L        debug | info | warn | error (default info)
  --log-file F         where the output goes once stdout or stderr fails (their reader died):
                       0600, appended, moved to F.1 past 10 MiB (else it is dropped)
  -h, --help           this text
  -v, --version        the version

${importOptions}`;

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      'admin-token': { type: 'string' },
      'admin-token-file': { type: 'string' },
      'allow-origin': { type: 'string', multiple: true },
      input: { type: 'string', multiple: true },
      workspace: { type: 'string' },
      ledger: { type: 'string' },
      json: { type: 'boolean' },
      'log-level': { type: 'string' },
      'log-file': { type: 'string' },
    },
    strict: true,
  });
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new UsageError(`--log-level must be debug, info, warn or error (got '${level}')`);
  const port = values.port === undefined ? defaultPort : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535 (got '${values.port}')`);
  const host = values.host ?? '127.0.0.1';
  if (values['log-file'] !== undefined) {
    const path = resolve(values['log-file']);
    try {
      logFile = new LogFile(path);
    } catch (error) {
      throw new UsageError(`--log-file ${path}: ${errorMessage(error)}`);
    }
    stderr.fallBackTo(logFile);
    stdout.fallBackTo(logFile);
  }
  const logger = createLogger((lvl, line) => stderr.write(`${new Date().toISOString()} ${lvl.padEnd(5)} ${line}\n`), level);
  keepServingOnUncaughtErrors(logger);
  if (!isLoopbackHost(host)) logger.warn(`binding ${host}: the hub is reachable from the network; anyone with the client token can use every upstream`);

  // Two credentials: MCP clients get the client token, the admin API takes only the admin token,
  // so an agent talked into an HTTP call cannot switch safe mode off or end other sessions.
  const tokenFilePath = resolve(values['token-file'] ?? defaultTokenFile);
  const adminTokenFilePath = resolve(values['admin-token-file'] ?? join(dirname(tokenFilePath), adminTokenFileName));
  if (adminTokenFilePath === tokenFilePath) throw new UsageError(`the admin token file must not be the token file (${tokenFilePath})`);
  // A command line is no place for a secret: every local user reads it in /proc/<pid>/cmdline (and `ps`).
  if (values.token) logger.warn(`--token: other local users can read it in /proc/<pid>/cmdline and ps; give it as $${tokenEnvVar} or in a --token-file instead`);
  if (values['admin-token']) logger.warn(`--admin-token: other local users can read it in /proc/<pid>/cmdline and ps; give it as $${adminTokenEnvVar} or in an --admin-token-file instead`);
  const warn = (message: string) => logger.warn(message);
  const { token, tokenFile } = resolveToken(values.token, tokenEnvVar, tokenFilePath, warn);
  const { token: adminToken, tokenFile: adminTokenFile } = resolveToken(values['admin-token'], adminTokenEnvVar, adminTokenFilePath, warn);
  if (adminToken === token) throw new UsageError(`the admin token must differ from the client token (--admin-token, $${adminTokenEnvVar} or the admin token file)`);
  const configPath = values.config === undefined ? undefined : resolve(values.config);
  const configContext = { inputs: parseInputFlags(values.input), workspaceFolder: resolve(values.workspace ?? process.cwd()) };
  const ledgerPath = resolve(values.ledger ?? join(dirname(tokenFilePath), ledgerFileName));
  // OAuth tokens of remote upstreams: a 0600 file next to the tokens.
  const secretStore = new FileSecretStore(join(dirname(tokenFilePath), 'oauth-credentials.json'));
  const running = await runHub({
    configPath,
    configContext: () => configContext,
    token,
    adminToken,
    logger,
    host,
    port,
    allowedOrigins: values['allow-origin'],
    ledgerPath,
    ledgerUrl: process.env.MCP_SESSION_HUB_LEDGER_URL,
    secretStore,
  });
  const { url } = running.gateway;
  const endpoints = Object.fromEntries([
    ['global', `${url}/mcp`],
    ...[...running.hub.config.virtualServers.keys()].map((id) => [id, `${url}/servers/${id}/mcp`]),
  ]);

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn(`${signal} again: exiting without waiting`);
        resolveExit(1);
        return;
      }
      stopping = true;
      logger.info(`${signal}: closing sessions and upstreams`);
      // Whatever state the hub is in, a signal ends it: a shutdown stuck on an upstream or a socket does not.
      setTimeout(() => {
        logger.warn(`${signal}: shutdown took over ${shutdownGraceMs} ms; exiting without waiting`);
        resolveExit(1);
      }, shutdownGraceMs).unref();
      running.close().then(
        () => resolveExit(0),
        (error: unknown) => {
          logger.error(`shutdown failed: ${errorMessage(error)}`);
          resolveExit(1);
        },
      );
    };
    // Listening before the ready line: a Ctrl+C the moment it appears must shut down cleanly,
    // not meet Node's default action and leave the upstreams to their own devices.
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    if (values.json) {
      const { starting } = running;
      stdout.write(`${JSON.stringify({ event: 'ready', url, tokenFile: tokenFile ?? null, adminTokenFile: adminTokenFile ?? null, endpoints, pid: process.pid, starting, signIn: signInUrls(running.hub.state()) })}\n`);
    } else {
      const lines = [
        `MCP Session Hub ${hubVersion} listening on ${url} (config: ${running.hub.configSource})`,
        ...Object.entries(endpoints).map(([name, endpoint]) => `  ${name.padEnd(14)} ${endpoint}`),
        `  client token   ${tokenFile ? `in ${tokenFile}` : 'as given'} (MCP clients send Authorization: Bearer <token>)`,
        `  ${'admin'.padEnd(14)} ${url}/admin/state`,
        `  admin token    ${adminTokenFile ? `in ${adminTokenFile}` : 'as given'} (the admin API takes only this token)`,
        ...(running.starting.length > 0
          ? [`  still starting ${running.starting.join(', ')} (lists show their tools when they are ready, with list_changed)`]
          : []),
        'Legacy SSE clients: replace /mcp with /sse. Ctrl+C stops the hub and its upstreams.',
        ...signInLines(running.hub.state()),
      ];
      stdout.write(`${lines.join('\n')}\n`);
    }
  });
}

/**
 * The last resort: an error nobody caught must not end every session of every client. It is
 * logged with its stack and the hub keeps serving; each such error is a bug to fix where it arose.
 */
function keepServingOnUncaughtErrors(logger: Logger): void {
  const report = (kind: string) => (error: unknown) => {
    // The logger's sinks never throw, so reporting cannot raise the next uncaught error.
    logger.error(`${kind} (the hub keeps serving): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  };
  process.on('uncaughtException', report('uncaught exception'));
  process.on('unhandledRejection', report('unhandled promise rejection'));
}

class UsageError extends Error {}

/** `--input id=value` flags as input values; the value may itself contain `=`. */
function parseInputFlags(flags: string[] | undefined): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const flag of flags ?? []) {
    const at = flag.indexOf('=');
    if (at <= 0) throw new UsageError(`--input must be ID=VALUE (got '${flag}')`);
    inputs[flag.slice(0, at)] = flag.slice(at + 1);
  }
  return inputs;
}

export async function main(argv: string[]): Promise<number> {
  const line = readCommandLine(argv);
  if (line.kind === 'help') {
    stdout.write(`${commandHelp(line.command, usage)}\n`);
    return 0;
  }
  if (line.kind === 'version') {
    stdout.write(`${hubVersion}\n`);
    return 0;
  }
  try {
    if (line.kind === 'usage-error') throw new UsageError(line.message);
    const { command, args: rest } = line;
    if (command === 'serve') return await serve(rest);
    if (command === 'schema') {
      refuseArguments(rest);
      stdout.write(`${JSON.stringify(hubConfigJsonSchema(), null, 2)}\n`);
      return 0;
    }
    if (command === 'login') {
      const defaultAdminTokenFile = join(dirname(defaultTokenFile), adminTokenFileName);
      return await runLogin(rest, { port: defaultPort, adminTokenEnvVar, adminTokenFile: defaultAdminTokenFile }, (text) => stdout.write(text));
    }
    if (command === 'activity') {
      const stateFolder = dirname(defaultTokenFile);
      const interrupt = new AbortController();
      process.once('SIGINT', () => interrupt.abort());
      return await runActivity(
        rest,
        { port: defaultPort, adminTokenEnvVar, adminTokenFile: join(stateFolder, adminTokenFileName), auditFolder: auditFolder(stateFolder) },
        (text) => stdout.write(text),
        interrupt.signal,
      );
    }
    return runImport(rest, (text) => stdout.write(text), (text) => stderr.write(text));
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TokenFileError) {
      stderr.write(`${error.message}\n`);
      return 2;
    }
    if (error instanceof UsageError || error instanceof ImportUsageError || error instanceof LoginUsageError || error instanceof ActivityUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      stderr.write(`mcp-session-hub: ${errorMessage(error)}\n\n${usage}\n`);
      return 2;
    }
    if ((error as { code?: string }).code === 'EADDRINUSE') {
      stderr.write(`mcp-session-hub: port already in use: ${errorMessage(error)}\n`);
      return 1;
    }
    stderr.write(`mcp-session-hub: ${errorMessage(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
