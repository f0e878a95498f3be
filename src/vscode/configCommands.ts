import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { parseConfig } from '../core/config/config';
import { addVirtualServer, deleteVirtualServer, renameVirtualServer, setToolSelected } from '../core/config/configEdits';
import { knownSources, mergeImport, readCandidates, type ImportCandidate } from '../core/config/importServers';
import { errorMessage, type Logger } from '../core/infra/logger';
import type { TreeNode } from '../ui/treeModel';
import { reportingErrors } from './commands';
import type { HubController } from './hubController';

const virtualServerIdPattern = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Applies an edit to the hub config file. An editor with unsaved changes to it would be
 * overwritten, so that is refused; the file watcher reloads the hub as after any save.
 */
async function editConfigFile(path: string, change: (text: string) => string): Promise<void> {
  const uri = vscode.Uri.file(path);
  if (vscode.workspace.textDocuments.some((document) => document.uri.fsPath === uri.fsPath && document.isDirty)) {
    throw new Error(`${path} has unsaved changes: save or revert it first`);
  }
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const next = change(text);
  if (next === text) return;
  parseConfig(next, path, { env: process.env }); // never write a file the hub would refuse
  await vscode.workspace.fs.writeFile(uri, Buffer.from(next, 'utf8'));
}

/** A one-line summary of an entry: its command line or its URL. */
function describeEntry(entry: Record<string, unknown>): string {
  if (typeof entry.url === 'string') return entry.url;
  const args = Array.isArray(entry.args) ? entry.args.join(' ') : '';
  return `${String(entry.command ?? '')} ${args}`.trim();
}

/**
 * The commands that change the hub config: Import Servers, New / Rename / Delete Virtual Server,
 * Enter Input Values, and the tree's tool checkboxes.
 */
export function registerConfigCommands(context: vscode.ExtensionContext, controller: HubController, logger: Logger): vscode.Disposable {
  const configPath = () => controller.editableConfigPath();
  const run = reportingErrors(logger);
  const pickVirtualServer = async (node: TreeNode | undefined, placeHolder: string) => {
    if (node?.contextValue === 'virtualServer' && node.target) return node.target;
    const ids = (controller.state?.virtualServers ?? []).map((vs) => ({ label: vs.id, description: vs.title }));
    return (await vscode.window.showQuickPick(ids, { placeHolder }))?.label;
  };
  const askVirtualServerId = (prompt: string, value?: string) =>
    vscode.window.showInputBox({
      prompt,
      value,
      validateInput: (id) =>
        !virtualServerIdPattern.test(id) ? '1-32 characters of A-Z, a-z, 0-9, _ or -' : controller.state?.virtualServers.some((vs) => vs.id === id) ? `'${id}' exists already` : undefined,
    });

  const commands: Record<string, (node?: TreeNode) => Promise<void>> = {
    'mcpSessionHub.importServers': async () => {
      const where = {
        home: homedir(),
        platform: process.platform,
        appData: process.env.APPDATA,
        workspaceFolders: (vscode.workspace.workspaceFolders ?? []).map((folder) => folder.uri.fsPath),
        // globalStorage is <user dir>/globalStorage/<extension id>: VS Code's own user mcp.json sits in <user dir>.
        vscodeUserDir: join(context.globalStorageUri.fsPath, '..', '..'),
      };
      const found: ImportCandidate[] = [];
      for (const source of knownSources(where)) {
        if (!existsSync(source.path)) continue;
        try {
          found.push(...readCandidates(source, readFileSync(source.path, 'utf8')));
        } catch (error) {
          logger.warn(`import: skipped ${source.label} (${source.path}): ${errorMessage(error)}`);
        }
      }
      const path = configPath();
      const hubText = existsSync(path) ? readFileSync(path, 'utf8') : '';
      // What a merge would skip (in the hub already, or an entry the loader would refuse) is not offered.
      const { skipped } = mergeImport(hubText, path, found);
      for (const { id, from, why } of skipped) logger.info(`import: not offering '${id}' from ${from}: ${why}`);
      const notOffered = new Set(skipped.map((skip) => `${skip.from}\u0000${skip.id}`));
      const offered = found.filter((candidate) => !notOffered.has(`${candidate.source.label}\u0000${candidate.id}`));
      if (offered.length === 0) {
        void vscode.window.showInformationMessage(
          found.length
            ? 'MCP Session Hub: every server found is in the hub config already, or cannot be loaded (the log says why).'
            : 'MCP Session Hub: no MCP servers found in VS Code, Claude or Cursor config files.',
        );
        return;
      }
      const chosen = await vscode.window.showQuickPick(
        offered.map((candidate) => ({ label: candidate.id, description: candidate.source.label, detail: describeEntry(candidate.entry), candidate })),
        { canPickMany: true, placeHolder: 'Servers to add to the hub', title: 'MCP Session Hub: Import Servers', ignoreFocusOut: true },
      );
      if (!chosen || chosen.length === 0) return;
      const eachOwn = 'One virtual server per server';
      const newOne = 'New virtual server…';
      const target = await vscode.window.showQuickPick([eachOwn, newOne, ...(controller.state?.virtualServers ?? []).map((vs) => vs.id)], {
        placeHolder: 'Where the imported servers show',
        ignoreFocusOut: true,
      });
      if (!target) return;
      const virtualServer = target === eachOwn ? undefined : target === newOne ? await askVirtualServerId('Id of the new virtual server') : target;
      if (target === newOne && !virtualServer) return;
      let added = 0;
      await editConfigFile(path, (text) => {
        const merged = mergeImport(text, path, chosen.map((item) => item.candidate), { virtualServer });
        added = merged.added.length;
        return merged.text;
      });
      void vscode.window.showInformationMessage(`MCP Session Hub: ${added} server${added === 1 ? '' : 's'} imported into ${path}.`);
      await controller.reloadConfig(); // and ask for the inputs they brought
    },
    'mcpSessionHub.newVirtualServer': async () => {
      const id = await askVirtualServerId('Id of the new virtual server (its endpoint is /servers/<id>/mcp)');
      if (!id) return;
      const upstreams = await vscode.window.showQuickPick((controller.state?.upstreams ?? []).map((upstream) => upstream.id), { canPickMany: true, placeHolder: `Upstreams of '${id}'` });
      if (!upstreams || upstreams.length === 0) return;
      await editConfigFile(configPath(), (text) => addVirtualServer(text, id, upstreams));
    },
    'mcpSessionHub.renameVirtualServer': async (node) => {
      const from = await pickVirtualServer(node, 'Virtual server to rename');
      if (!from) return;
      const to = await askVirtualServerId(`New id for '${from}' (its clients must use the new endpoint)`, from);
      if (!to || to === from) return;
      await editConfigFile(configPath(), (text) => renameVirtualServer(text, from, to));
    },
    'mcpSessionHub.deleteVirtualServer': async (node) => {
      const id = await pickVirtualServer(node, 'Virtual server to delete');
      if (!id) return;
      const answer = await vscode.window.showWarningMessage(`Delete virtual server '${id}'? Its sessions end.`, { modal: true }, 'Delete');
      if (answer !== 'Delete') return;
      await editConfigFile(configPath(), (text) => deleteVirtualServer(text, id));
    },
    'mcpSessionHub.enterInputs': async () => {
      const config = controller.hostedConfig;
      if (!config) throw new Error('input values are kept by the window that hosts the hub; run this there');
      const inputs = [...config.inputs.values()];
      if (inputs.length === 0) {
        void vscode.window.showInformationMessage('MCP Session Hub: the hub config declares no inputs.');
        return;
      }
      const picked = await vscode.window.showQuickPick(
        inputs.map((input) => ({ label: input.id, description: input.description, input })),
        { placeHolder: 'Input to enter again' },
      );
      if (!picked) return;
      if (await controller.inputs.ask(picked.input)) await controller.reloadConfig();
    },
  };
  return vscode.Disposable.from(...Object.entries(commands).map(([id, action]) => vscode.commands.registerCommand(id, run(action))));
}

/** The tree's tool checkboxes: each change becomes an include/exclude edit of the virtual server. */
export function applyToolCheckboxes(controller: HubController, logger: Logger, changes: readonly (readonly [TreeNode, vscode.TreeItemCheckboxState])[]): Promise<void> {
  return reportingErrors(logger)(() =>
    editConfigFile(controller.editableConfigPath(), (text) =>
      changes.reduce((current, [node, state]) => {
        if (!node.tool || !node.target) return current;
        return setToolSelected(current, node.target, node.tool.upstream, node.tool.name, state === vscode.TreeItemCheckboxState.Checked);
      }, text),
    ),
  )();
}
