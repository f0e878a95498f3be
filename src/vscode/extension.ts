import * as vscode from 'vscode';
import { createLogger } from '../core/infra/logger';
import { registerCommands } from './commands';
import { applyToolCheckboxes, registerConfigCommands } from './configCommands';
import { HubController } from './hubController';
import { HubTreeProvider } from './hubTreeView';
import { registerMcpProvider } from './mcpProvider';
import { notifyWhenSignInNeeded } from './signIn';

let controller: HubController | undefined;

/** What the extension gives other extensions and its tests. */
export type HubExtensionApi = { controller: HubController };

/** Wires the pieces together; the logic lives in the modules it imports. */
export async function activate(context: vscode.ExtensionContext): Promise<HubExtensionApi> {
  const output = vscode.window.createOutputChannel('MCP Session Hub', { log: true });
  const logger = createLogger((level, line) => output[level === 'warn' ? 'warn' : level](line), 'debug');
  const hub = new HubController(context, logger);
  controller = hub;
  const tree = new HubTreeProvider(controller);
  // Checkboxes are the virtual servers' tools; a group's box must not check all of them at once.
  const treeView = vscode.window.createTreeView('mcpSessionHub.tree', { treeDataProvider: tree, showCollapseAll: true, manageCheckboxStateManually: true });
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  status.command = 'mcpSessionHub.openDashboard';
  const updateStatus = () => {
    const state = controller?.state;
    const mode = controller?.mode;
    const chats = state?.sessions.filter((s) => s.chat).length ?? 0;
    const sessions = (state?.sessions.length ?? 0) - chats;
    const chatText = chats > 0 ? `, ${chats} chat${chats === 1 ? '' : 's'}` : '';
    status.text = state ? `$(server-environment) Hub: ${sessions} session${sessions === 1 ? '' : 's'}${chatText}` : mode === 'unavailable' ? '$(error) Hub' : '$(loading~spin) Hub';
    status.tooltip = state ? `MCP Session Hub ${mode === 'hosting' ? 'runs in this window' : 'attached'} at ${state.url}` : (controller?.problem ?? 'MCP Session Hub: starting');
    status.show();
  };
  context.subscriptions.push(
    output,
    controller,
    tree,
    status,
    treeView,
    treeView.onDidChangeCheckboxState((event) => void applyToolCheckboxes(hub, logger, event.items)),
    registerMcpProvider(controller),
    registerCommands(context, controller, output, logger),
    registerConfigCommands(context, controller, logger),
    controller.onDidChangeState(updateStatus),
    controller.onDidChangeMode(updateStatus),
    notifyWhenSignInNeeded(controller, async (upstream) => {
      await vscode.commands.executeCommand('mcpSessionHub.signIn', { contextValue: 'upstream', target: upstream });
    }),
  );
  updateStatus();
  await controller.start();
  return { controller };
}

/** Ends a hosted hub and its upstream children before the extension host goes. */
export async function deactivate(): Promise<void> {
  await controller?.shutdown();
}
