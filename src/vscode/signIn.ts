import * as vscode from 'vscode';
import type { HubState } from '../client/adminClient';
import type { SecretStore } from '../upstream/oauth/secretStore';
import type { HubController } from './hubController';

/** The hub's OAuth tokens and registrations in VS Code's SecretStorage (the OS keychain), under one prefix. */
export class VsCodeSecretStore implements SecretStore {
  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly prefix = 'mcpSessionHub.',
  ) {}

  async get(name: string): Promise<string | undefined> {
    return this.secrets.get(this.prefix + name);
  }

  async set(name: string, value: string): Promise<void> {
    await this.secrets.store(this.prefix + name, value);
  }

  async delete(name: string): Promise<void> {
    await this.secrets.delete(this.prefix + name);
  }
}

/** Asks the hub for an upstream's authorization URL and opens it in the browser; the redirect comes back to the hub. */
export async function signInTo(controller: HubController, upstream: string): Promise<void> {
  const client = controller.client;
  if (!client) throw new Error(controller.problem ?? 'the hub is not reachable yet');
  const answer = await client.login(upstream);
  if (answer.signedIn) {
    void vscode.window.showInformationMessage(`MCP Session Hub: ${upstream} is signed in.`);
    return;
  }
  if (!answer.authorizationUrl) throw new Error(`the hub gave no sign-in URL for ${upstream}`);
  // parse(…, true): the URL is already encoded; VS Code must not encode it again.
  const opened = await vscode.env.openExternal(vscode.Uri.parse(answer.authorizationUrl, true));
  if (!opened) void vscode.window.showWarningMessage(`MCP Session Hub: open this URL to sign in to ${upstream}: ${answer.authorizationUrl}`);
}

/**
 * "Sign in to linear": one notification each time an upstream comes to need a sign-in (not on
 * every state push while it waits), with a Sign in button.
 */
export function notifyWhenSignInNeeded(controller: HubController, run: (upstream: string) => Promise<void>): vscode.Disposable {
  const waiting = new Set<string>();
  return controller.onDidChangeState((state: HubState | undefined) => {
    if (!state) return;
    const now = new Set(state.upstreams.filter((u) => u.state === 'needs-auth').map((u) => u.id));
    for (const id of waiting) if (!now.has(id)) waiting.delete(id);
    for (const upstream of state.upstreams) {
      if (upstream.state !== 'needs-auth' || waiting.has(upstream.id)) continue;
      waiting.add(upstream.id);
      const reason = upstream.signIn?.reason ? ` (${upstream.signIn.reason})` : '';
      void vscode.window.showWarningMessage(`MCP Session Hub: Sign in to ${upstream.id}${reason}`, 'Sign in').then((choice) => {
        if (choice === 'Sign in') void run(upstream.id);
      });
    }
  });
}
