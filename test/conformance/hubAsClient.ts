/**
 * The client command for the conformance suite's client scenarios, with the hub as the client:
 * `node hubAsClient.js <scenario server URL>` (the suite appends the URL and sets
 * MCP_CONFORMANCE_SCENARIO, and MCP_CONFORMANCE_CONTEXT for scenarios with pre-registered
 * credentials). It starts the headless hub (the real CLI) with that URL as its one upstream,
 * signs in by following the authorization URL the hub gives (the scenario's authorization server
 * answers at once), then, through the hub as an MCP client would, lists the tools and calls each.
 * Exit 0 when every step worked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');
const upstream = 'scenario';
/** The client metadata document URL the `auth/basic-cimd` scenario expects as client_id. */
const cimdUrl = 'https://conformance-test.local/client-metadata.json';

function log(text: string): void {
  process.stderr.write(`[hub-as-client] ${text}\n`);
}

type Context = { client_id?: string; client_secret?: string };

function oauthSettings(scenario: string, context: Context): Record<string, unknown> | undefined {
  if (context.client_id) return { clientId: context.client_id, ...(context.client_secret ? { clientSecret: context.client_secret } : {}) };
  if (scenario === 'auth/basic-cimd') return { clientMetadataUrl: cimdUrl };
  return undefined;
}

type UpstreamState = { id: string; state: string; lastError?: string; signIn?: { reason: string; authorizationUrl?: string } };

class Hub {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly token: string,
    private readonly adminToken: string,
  ) {}

  static async start(serverUrl: string, scenario: string, context: Context, dir: string): Promise<Hub> {
    const oauth = oauthSettings(scenario, context);
    const config = join(dir, 'hub.json');
    // The elicitation scenario's server sends its elicitation/create outside the call's stream, with
    // nothing that says whose it is: the hub gives it to the one session calling only when told to.
    const attribution = scenario.startsWith('elicitation') ? { attribution: 'single-flight' } : {};
    writeFileSync(config, JSON.stringify({ servers: { [upstream]: { type: 'http', url: serverUrl, ...attribution, ...(oauth ? { oauth } : {}) } } }));
    const token = randomBytes(24).toString('hex');
    const adminToken = randomBytes(24).toString('hex');
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--json', '--config', config, '--token', token, '--admin-token', adminToken, '--token-file', join(dir, 'token'), '--log-level', 'debug'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the hub exited with ${code} before it was ready`)));
    });
    const ready = JSON.parse(line) as { url: string; signIn: Record<string, string | null> };
    log(`hub ready at ${ready.url}; sign-in needed: ${JSON.stringify(ready.signIn)}`);
    return new Hub(child, ready.url, token, adminToken);
  }

  private async admin<T>(method: string, path: string): Promise<T> {
    const response = await fetch(`${this.url}${path}`, { method, headers: { authorization: `Bearer ${this.adminToken}` } });
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  async upstreamState(): Promise<UpstreamState> {
    const state = await this.admin<{ upstreams: UpstreamState[] }>('GET', '/admin/state');
    const found = state.upstreams.find((u) => u.id === upstream);
    if (!found) throw new Error('the upstream is not in the hub state');
    return found;
  }

  /** Signs in if the upstream needs it: asks the hub for the URL and follows it as a browser would. */
  async signInIfNeeded(): Promise<void> {
    let state = await this.waitUntil((s) => s.state !== 'starting', 15_000);
    for (let attempt = 0; attempt < 3 && state.state === 'needs-auth'; attempt++) {
      const { authorizationUrl } = await this.admin<{ authorizationUrl?: string }>('POST', `/admin/upstreams/${upstream}/login`);
      if (authorizationUrl) await follow(authorizationUrl);
      // Done when ready (or failed), or when the hub wants another sign-in (a new URL).
      state = await this.waitUntil((s) => s.state === 'ready' || s.state === 'failed' || (s.state === 'needs-auth' && s.signIn?.authorizationUrl !== authorizationUrl), 15_000);
    }
    if (state.state !== 'ready') throw new Error(`upstream is ${state.state}: ${state.lastError ?? ''}`);
  }

  private async waitUntil(done: (state: UpstreamState) => boolean, timeoutMs: number): Promise<UpstreamState> {
    const deadline = Date.now() + timeoutMs;
    let state = await this.upstreamState();
    while (!done(state) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = await this.upstreamState();
    }
    return state;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
}

/** A browser following the authorization URL: the authorization server redirects to the hub's callback. */
async function follow(authorizationUrl: string): Promise<void> {
  const approved = await fetch(authorizationUrl, { redirect: 'manual' });
  const location = approved.headers.get('location');
  if (!location) throw new Error(`the authorization server answered ${approved.status} without a redirect: ${await approved.text()}`);
  const callback = await fetch(new URL(location, authorizationUrl));
  log(`redirect to the hub: HTTP ${callback.status}`);
}

/** Arguments from a tool's input schema: numbers 2, 3, …; strings "test"; booleans true. */
function argumentsFor(tool: Tool): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  let next = 2;
  for (const [name, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
    const type = (schema as { type?: string }).type;
    args[name] = type === 'number' || type === 'integer' ? next++ : type === 'boolean' ? true : 'test';
  }
  return args;
}

async function main(): Promise<number> {
  const serverUrl = process.argv[2];
  const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
  const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}') as Context;
  if (!serverUrl) throw new Error('usage: hubAsClient <server URL>');
  const dir = mkdtempSync(join(tmpdir(), 'hub-conformance-client-'));
  const hub = await Hub.start(serverUrl, scenario, context, dir);
  const client = new Client({ name: 'hub-conformance-client', version: '1.0.0' }, { capabilities: { elicitation: { form: { applyDefaults: true } } } });
  client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: {} }));
  try {
    await hub.signInIfNeeded();
    await client.connect(new StreamableHTTPClientTransport(new URL(`${hub.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${hub.token}` } } }));
    const { tools } = await client.listTools();
    log(`tools through the hub: ${tools.map((t) => t.name).join(', ') || 'none'}`);
    let failures = 0;
    for (const tool of tools) {
      // A step-up (403 insufficient_scope) ends in needs-auth: sign in again and call once more.
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const result = await client.callTool({ name: tool.name, arguments: argumentsFor(tool) });
          log(`${tool.name}: ${JSON.stringify(result.content).slice(0, 200)}`);
          break;
        } catch (error) {
          log(`${tool.name} failed: ${(error as Error).message}`);
          if (attempt === 2 || (await hub.upstreamState()).state !== 'needs-auth') {
            failures++;
            break;
          }
          await hub.signInIfNeeded();
        }
      }
    }
    return failures === 0 ? 0 : 1;
  } finally {
    await client.close().catch(() => undefined);
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
