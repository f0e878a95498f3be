import * as vscode from 'vscode';
import { buildServerDefinitions, workspaceSessionKey, type ServerDefinition } from '../ui/serverDefinitions';
import type { HubController } from './hubController';

export const providerId = 'mcpSessionHub.servers';

/**
 * Registers the hub's virtual servers with VS Code's MCP client (Copilot and agent chat), one
 * HTTP definition each, carrying the hub's client token (never the admin token) and this
 * workspace's session key.
 */
export function registerMcpProvider(controller: HubController): vscode.Disposable {
  const changed = new vscode.EventEmitter<void>();
  let definitions: ServerDefinition[] = [];
  let fingerprint = '';
  const workspace = vscode.workspace.workspaceFile ?? vscode.workspace.workspaceFolders?.[0]?.uri;
  const sessionKey = workspaceSessionKey(workspace?.toString() ?? `window-${process.pid}`, vscode.workspace.name ?? 'window');

  const refresh = () => {
    const state = controller.state;
    const token = controller.tokens?.token;
    const includeGlobal = vscode.workspace.getConfiguration('mcpSessionHub').get<boolean>('includeGlobalEndpoint', false);
    const next = state && token ? buildServerDefinitions(state, { token, sessionKey, includeGlobal }) : [];
    const nextFingerprint = JSON.stringify(next);
    if (nextFingerprint === fingerprint) return;
    definitions = next;
    fingerprint = nextFingerprint;
    changed.fire();
  };

  const registration = vscode.lm.registerMcpServerDefinitionProvider(providerId, {
    onDidChangeMcpServerDefinitions: changed.event,
    provideMcpServerDefinitions: () =>
      definitions.map((d) => new vscode.McpHttpServerDefinition(d.label, vscode.Uri.parse(d.uri), d.headers, d.version)),
    resolveMcpServerDefinition: (definition) => definition,
  });
  return vscode.Disposable.from(
    registration,
    changed,
    controller.onDidChangeState(() => refresh()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('mcpSessionHub.includeGlobalEndpoint')) refresh();
    }),
  );
}
