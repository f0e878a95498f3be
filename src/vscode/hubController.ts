import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import { AdminClient, AdminHttpError, type HubState } from '../client/adminClient';
import { readDeclaredInputs, type ConfigContext, type HubConfig } from '../core/config/config';
import { inputEnvVarName } from '../core/config/configVariables';
import { defaultConfigJson } from '../core/config/defaultConfig';
import { errorMessage, type Logger } from '../core/infra/logger';
import { runHub, type RunningHub } from '../http/runHub';
import { InputValues } from './inputValues';
import { VsCodeSecretStore } from './signIn';

export type HubMode = 'starting' | 'hosting' | 'attached' | 'unavailable';

/** SecretStorage keys: the client token (MCP endpoints) and the admin token (`/admin/*`). */
const tokenSecret = 'mcpSessionHub.token';
const adminTokenSecret = 'mcpSessionHub.adminToken';
/** The CLI's token files: a standalone `mcp-session-hub serve` on the same port is attached with them. */
const cliTokenFiles = { token: join(homedir(), '.mcp-session-hub', 'token'), adminToken: join(homedir(), '.mcp-session-hub', 'admin-token') };

/**
 * A hub's two credentials: `token` goes only into the MCP server definitions given to VS Code
 * (so agents' calls carry it); `adminToken` only into this window's AdminClient.
 */
export type HubTokens = { token: string; adminToken: string };

const newToken = () => randomBytes(32).toString('base64url');

/**
 * One hub per user: the first window hosts it in its extension host; later windows (and windows
 * next to a standalone CLI hub) attach to it through its admin API. When the host goes away, an
 * attached window takes over within seconds.
 */
export class HubController implements vscode.Disposable {
  private running?: RunningHub;
  private admin?: AdminClient;
  private watching?: vscode.Disposable;
  private takeover?: NodeJS.Timeout;
  private disposed = false;
  private currentMode: HubMode = 'starting';
  private lastState?: HubState;
  private lastProblem?: string;
  /** Both tokens as last read from or written to SecretStorage. */
  private stored?: HubTokens;
  /** The tokens of the hub this window hosts or follows: ours, or a standalone CLI hub's. */
  private following?: HubTokens;

  private readonly stateEmitter = new vscode.EventEmitter<HubState | undefined>();
  /** Fires with every state the hub pushes, and with undefined while no hub is reachable. */
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly modeEmitter = new vscode.EventEmitter<HubMode>();
  readonly onDidChangeMode = this.modeEmitter.event;

  private readonly secretsSubscription: vscode.Disposable;
  /** The values of the config's `${input:…}`; only the hosting window uses them. */
  readonly inputs: InputValues;
  private askingInputs?: Promise<void>;
  /** Asks for inputs when a reload (a saved config) brings an upstream that lacks one. */
  private inputWatch?: { dispose(): void };

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly logger: Logger,
  ) {
    this.inputs = new InputValues(context.secrets);
    // Another window may store new tokens: read them again next time.
    this.secretsSubscription = context.secrets.onDidChange((event) => {
      if (event.key === tokenSecret || event.key === adminTokenSecret) this.stored = undefined;
    });
  }

  get mode(): HubMode {
    return this.currentMode;
  }
  get state(): HubState | undefined {
    return this.lastState;
  }
  /** The admin API of the hub, with its admin token. */
  get client(): AdminClient | undefined {
    return this.admin;
  }
  /** The tokens of the hub this window hosts or follows; the client token is the one MCP definitions carry. */
  get tokens(): HubTokens | undefined {
    return this.following;
  }
  get problem(): string | undefined {
    return this.lastProblem;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  private get port(): number {
    return vscode.workspace.getConfiguration('mcpSessionHub').get<number>('port', 7337);
  }

  /** The hub config file: the setting, or a file in global storage created from a template. */
  configPath(): string {
    const configured = vscode.workspace.getConfiguration('mcpSessionHub').get<string>('configPath', '').trim();
    if (configured) return configured.replace(/^~(?=\/|$)/, homedir());
    const path = join(this.context.globalStorageUri.fsPath, 'hub.jsonc');
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      const demo = join(this.context.extensionPath, 'dist', 'demo-server.js');
      const template = defaultConfigJson(demo);
      // process.execPath is VS Code's own runtime: this makes it behave as Node for the demo.
      const servers = { demo: { ...template.servers.demo, env: { ELECTRON_RUN_AS_NODE: '1' } } };
      const header = '// MCP Session Hub config: VS Code mcp.json shape ("servers"), plus "virtualServers".\n// See the README of the extension for every field. Saved changes apply at once.\n';
      writeFileSync(path, header + JSON.stringify({ ...template, servers }, null, 2) + '\n');
    }
    return path;
  }

  /**
   * The file to edit for this hub: the hosting hub's own config file (a CLI hub's may differ from
   * this window's setting), else this window's.
   */
  editableConfigPath(): string {
    const source = this.lastState?.hub.configSource;
    return source && isAbsolute(source) && existsSync(source) ? source : this.configPath();
  }

  /** What the config's variables resolve against in this window. */
  private configContext(): ConfigContext {
    return {
      env: process.env,
      workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
      inputs: this.inputs.current,
      howToGiveInput: (id) => `run "MCP Session Hub: Enter Input Values" (or set ${inputEnvVarName(id)} before VS Code starts)`,
    };
  }

  /** The config the hosted hub runs; undefined in an attached window. */
  get hostedConfig(): HubConfig | undefined {
    return this.running?.hub.config;
  }

  /** Reads the config file again now and asks for the inputs it newly lacks (hosting window only). */
  async reloadConfig(): Promise<void> {
    await this.running?.reload();
    await this.askForMissingInputs();
  }

  /**
   * Asks once for each input that keeps an upstream from starting, then reloads with the answers.
   * One round at a time: a newly applied config and a command may both call this at once.
   */
  askForMissingInputs(): Promise<void> {
    this.askingInputs ??= (async () => {
      const config = this.running?.hub.config;
      if (!config) return;
      let answered = false;
      for (const input of this.inputs.missing(config)) answered = (await this.inputs.ask(input)) || answered;
      if (answered) await this.running?.reload();
    })().finally(() => (this.askingInputs = undefined));
    return this.askingInputs;
  }

  /** Both tokens: read from SecretStorage once, each created there on first use. */
  private async storedTokens(): Promise<HubTokens> {
    if (this.stored) return this.stored;
    let token = await this.context.secrets.get(tokenSecret);
    let adminToken = await this.context.secrets.get(adminTokenSecret);
    if (!token) {
      token = newToken();
      await this.context.secrets.store(tokenSecret, token);
    }
    if (!adminToken || adminToken === token) {
      adminToken = newToken();
      await this.context.secrets.store(adminTokenSecret, adminToken);
    }
    this.stored = { token, adminToken };
    return this.stored;
  }

  async start(): Promise<void> {
    if (this.disposed) return;
    this.setMode('starting');
    const tokens = await this.storedTokens();
    if (await new AdminClient(this.url, tokens.adminToken).health()) {
      await this.attach(tokens);
      return;
    }
    try {
      const configPath = this.configPath();
      await this.inputs.load(readDeclaredInputs(existsSync(configPath) ? readFileSync(configPath, 'utf8') : '').map((input) => input.id));
      this.running = await runHub({
        configPath,
        configContext: () => this.configContext(),
        token: tokens.token,
        adminToken: tokens.adminToken,
        logger: this.logger,
        port: this.port,
        secretStore: new VsCodeSecretStore(this.context.secrets),
        // Owners outlive a window reload, and pass to whichever window hosts the hub next.
        ledgerPath: join(this.context.globalStorageUri.fsPath, 'ownership.journal'),
      });
      this.logger.info(`hosting the hub on ${this.url} (config ${configPath})`);
      if (this.running.starting.length > 0) this.logger.info(`still starting after hub.readyWaitMs: ${this.running.starting.join(', ')} (their tools follow with list_changed)`);
      this.follow(tokens, 'hosting');
      // Not awaited: the hub serves what it can while the user answers.
      this.inputWatch?.dispose();
      // State changes on every call; only a newly applied config can lack a new input.
      let configAsked = this.running.hub.config;
      this.inputWatch = this.running.hub.onDidChangeState(() => {
        const config = this.running?.hub.config;
        if (!config || config === configAsked) return;
        configAsked = config;
        void this.askForMissingInputs();
      });
      void this.askForMissingInputs();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        // Another window bound it first: attach to it.
        await this.attach(tokens);
        return;
      }
      this.fail(`could not start the hub: ${errorMessage(error)}`);
    }
  }

  /** Attaches to the hub on the port; tries the CLI's token files when our admin token is refused. */
  private async attach(tokens: HubTokens): Promise<void> {
    for (const candidate of [tokens, readCliTokens()]) {
      if (!candidate) continue;
      try {
        await new AdminClient(this.url, candidate.adminToken).state();
        this.logger.info(`attached to the hub on ${this.url}`);
        this.follow(candidate, 'attached');
        return;
      } catch (error) {
        // 401: not this hub's token; 403: this hub's client token in an admin token's place.
        if (!(error instanceof AdminHttpError && (error.status === 401 || error.status === 403))) {
          this.fail(`the hub on ${this.url} does not answer its admin API: ${errorMessage(error)}`);
          return;
        }
      }
    }
    this.fail(`a hub runs on ${this.url} with an admin token this window does not have (set mcpSessionHub.port to use another port)`);
  }

  private follow(tokens: HubTokens, mode: HubMode): void {
    const client = new AdminClient(this.url, tokens.adminToken);
    this.following = tokens;
    this.admin = client;
    this.lastProblem = undefined;
    this.setMode(mode);
    this.watching?.dispose();
    this.watching = client.watch(
      (state) => {
        this.lastState = state;
        this.stateEmitter.fire(state);
      },
      (error) => this.lost(error),
    );
  }

  /** The hub we attached to went away: take over after a short, random wait (so windows do not race). */
  private lost(error: unknown): void {
    if (this.disposed || this.currentMode !== 'attached' || this.takeover) return;
    this.logger.warn(`lost the hub: ${errorMessage(error)}; taking over`);
    this.lastState = undefined;
    this.stateEmitter.fire(undefined);
    this.watching?.dispose();
    this.watching = undefined;
    this.takeover = setTimeout(() => {
      this.takeover = undefined;
      void this.start();
    }, 300 + Math.floor(Math.random() * 700));
  }

  private fail(problem: string): void {
    this.lastProblem = problem;
    this.logger.error(problem);
    this.setMode('unavailable');
  }

  private setMode(mode: HubMode): void {
    this.currentMode = mode;
    this.modeEmitter.fire(mode);
  }

  /**
   * New client and admin tokens: the hosted hub restarts with them (clients must reconnect;
   * attached windows read both again when they reconnect); an attached window cannot.
   */
  async regenerateToken(): Promise<void> {
    if (this.currentMode !== 'hosting') throw new Error('only the window that hosts the hub can change its tokens');
    const tokens = { token: newToken(), adminToken: newToken() };
    await this.context.secrets.store(adminTokenSecret, tokens.adminToken);
    await this.context.secrets.store(tokenSecret, tokens.token);
    this.stored = tokens;
    await this.stop();
    await this.start();
  }

  private async stop(): Promise<void> {
    clearTimeout(this.takeover);
    this.takeover = undefined;
    this.watching?.dispose();
    this.watching = undefined;
    this.inputWatch?.dispose();
    this.inputWatch = undefined;
    const running = this.running;
    this.running = undefined;
    await running?.close();
  }

  dispose(): void {
    this.disposed = true;
    void this.stop();
    this.secretsSubscription.dispose();
    this.inputs.dispose();
    this.stateEmitter.dispose();
    this.modeEmitter.dispose();
  }

  /** Closes a hosted hub and waits for its children to end (deactivate). */
  async shutdown(): Promise<void> {
    this.disposed = true;
    await this.stop();
  }
}

/** The tokens of a standalone CLI hub, from its files (both are needed: admin for us, client for VS Code's MCP client). */
function readCliTokens(): HubTokens | undefined {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const token = read(cliTokenFiles.token);
  const adminToken = read(cliTokenFiles.adminToken);
  return token && adminToken ? { token, adminToken } : undefined;
}
