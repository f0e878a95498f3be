import * as vscode from 'vscode';
import { errorMessage, type Logger } from '../core/infra/logger';
import type { TreeNode } from '../ui/treeModel';
import { DashboardPanel } from './dashboardPanel';
import type { HubController } from './hubController';
import { signInTo } from './signIn';

/** A command action whose failure is logged and shown to the user, never left unhandled. */
export function reportingErrors(logger: Logger) {
  return (action: (node?: TreeNode) => Promise<void>) =>
    async (node?: TreeNode): Promise<void> => {
      try {
        await action(node);
      } catch (error) {
        logger.error(errorMessage(error));
        void vscode.window.showErrorMessage(`MCP Session Hub: ${errorMessage(error)}`);
      }
    };
}

/** Every command of the extension: from the palette they ask what to act on; from the tree they know. */
export function registerCommands(context: vscode.ExtensionContext, controller: HubController, output: vscode.LogOutputChannel, logger: Logger): vscode.Disposable {
  const client = () => {
    const current = controller.client;
    if (!current || !controller.state) throw new Error(controller.problem ?? 'the hub is not reachable yet');
    return current;
  };
  const pick = async <T extends { label: string }>(items: T[], placeHolder: string): Promise<T | undefined> => {
    if (items.length === 0) {
      void vscode.window.showInformationMessage(`MCP Session Hub: nothing to choose (${placeHolder.toLowerCase()}).`);
      return undefined;
    }
    return vscode.window.showQuickPick(items, { placeHolder });
  };
  const pickSession = async () => {
    const sessions = controller.state?.sessions ?? [];
    const chosen = await pick(
      sessions.map((s) => {
        const client = s.connections.find((c) => c.client)?.client;
        const servers = [...new Set(s.connections.map((c) => c.virtualServer ?? 'global'))].join(', ');
        return { label: client ? `${client.name} ${client.version}` : 'unknown client', description: servers, detail: `session ${s.id} · ${s.calls} calls`, id: s.id };
      }),
      'Session to end',
    );
    return chosen?.id;
  };
  const pickUpstream = async () => (await pick((controller.state?.upstreams ?? []).map((u) => ({ label: u.id, description: u.state })), 'Upstream'))?.label;
  const pickServer = async () =>
    (await pick([{ label: '(global)', id: '' }, ...(controller.state?.virtualServers ?? []).map((vs) => ({ label: vs.id, description: vs.title, id: vs.id }))], 'Virtual server'))?.id;

  const run = reportingErrors(logger);

  const commands: Record<string, (node?: TreeNode) => Promise<void>> = {
    'mcpSessionHub.killSession': async (node) => {
      const id = node?.contextValue === 'session' ? node.target : await pickSession();
      if (!id) return;
      const ended = await client().killSession(id);
      void vscode.window.showInformationMessage(ended ? `Session ${id} ended.` : `Session ${id} had already ended.`);
    },
    'mcpSessionHub.killAllSessions': async () => {
      const count = controller.state?.sessions.length ?? 0;
      const answer = await vscode.window.showWarningMessage(`End all ${count} sessions of the hub?`, { modal: true }, 'End all');
      if (answer !== 'End all') return;
      void vscode.window.showInformationMessage(`${await client().killAllSessions()} sessions ended.`);
    },
    'mcpSessionHub.restartUpstream': async (node) => {
      const id = node?.contextValue.startsWith('upstream') ? node.target : await pickUpstream();
      if (!id) return;
      await client().restartUpstream(id);
      void vscode.window.showInformationMessage(`Upstream ${id} restarting.`);
    },
    'mcpSessionHub.signIn': async (node) => {
      const waiting = (controller.state?.upstreams ?? []).filter((u) => u.state === 'needs-auth');
      const id = node?.contextValue.startsWith('upstream') ? node.target : (await pick(waiting.map((u) => ({ label: u.id, description: u.signIn?.reason })), 'Upstream to sign in to'))?.label;
      if (!id) return;
      await signInTo(controller, id);
    },
    'mcpSessionHub.signOut': async (node) => {
      const id = node?.contextValue.startsWith('upstream') ? node.target : await pickUpstream();
      if (!id) return;
      await client().logout(id);
      void vscode.window.showInformationMessage(`Signed out of ${id}: the hub forgot its tokens.`);
    },
    'mcpSessionHub.copyEndpointUrl': async (node) => {
      const id = node?.contextValue === 'virtualServer' || node?.contextValue === 'endpoint.global' ? node.target : await pickServer();
      if (id === undefined) return;
      const url = `${controller.url}${id ? `/servers/${encodeURIComponent(id)}` : ''}/mcp`;
      await vscode.env.clipboard.writeText(url);
      void vscode.window.showInformationMessage(`Copied ${url}`);
    },
    'mcpSessionHub.openDashboard': async () => DashboardPanel.show(context.extensionUri, controller, logger),
    'mcpSessionHub.openConfig': async () => {
      await vscode.window.showTextDocument(vscode.Uri.file(controller.configPath()));
    },
    'mcpSessionHub.showLogs': async () => output.show(),
    'mcpSessionHub.toggleSafeMode': async () => {
      const choice = await vscode.window.showQuickPick(['On for every upstream', 'Off for every upstream'], { placeHolder: 'Safe mode' });
      if (!choice) return;
      await client().setSafeMode(choice.startsWith('On'));
      void vscode.window.showInformationMessage(`Safe mode ${choice.toLowerCase()}.`);
    },
    'mcpSessionHub.releaseTombstone': async (node) => {
      const target = node?.target;
      if (!target || !node.contextValue.startsWith('tombstone')) return;
      const what = node.contextValue === 'tombstone' ? `everything session ${target} owned` : `${node.label}`;
      const answer = await vscode.window.showWarningMessage(`Release ${what}? Any session may then be asked to act on it.`, { modal: true }, 'Release');
      if (answer !== 'Release') return;
      const released = await client().releaseTombstones(node.contextValue === 'tombstone' ? { session: target } : (JSON.parse(target) as { upstream: string; kind: string; id: string }));
      void vscode.window.showInformationMessage(`Released ${released} identifier(s).`);
    },
    'mcpSessionHub.releaseAllTombstones': async () => {
      const answer = await vscode.window.showWarningMessage("Release everything ended sessions owned? Any session may then be asked to act on it.", { modal: true }, 'Release all');
      if (answer !== 'Release all') return;
      void vscode.window.showInformationMessage(`Released ${await client().releaseTombstones({ all: true })} identifier(s).`);
    },
    'mcpSessionHub.regenerateToken': async () => {
      const answer = await vscode.window.showWarningMessage('New client and admin tokens end every session; clients reconnect with the new ones.', { modal: true }, 'Regenerate');
      if (answer !== 'Regenerate') return;
      await controller.regenerateToken();
      void vscode.window.showInformationMessage('The hub has new client and admin tokens.');
    },
  };
  return vscode.Disposable.from(...Object.entries(commands).map(([id, action]) => vscode.commands.registerCommand(id, run(action))));
}
