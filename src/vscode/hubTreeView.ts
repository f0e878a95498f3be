import * as vscode from 'vscode';
import { buildTree, type TreeNode } from '../ui/treeModel';
import type { HubController } from './hubController';

const rootGroups = new Set(['virtualServers', 'sessions', 'upstreams']);

/** The hub's tree, rebuilt from each state the hub pushes (no polling). */
export class HubTreeProvider implements vscode.TreeDataProvider<TreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private roots: TreeNode[] = [];
  private readonly subscription: vscode.Disposable;

  constructor(private readonly controller: HubController) {
    this.subscription = controller.onDidChangeState((state) => {
      this.roots = state ? buildTree(state) : [];
      this.changed.fire(undefined);
    });
    if (controller.state) this.roots = buildTree(controller.state);
  }

  getChildren(node?: TreeNode): TreeNode[] {
    if (node) return node.children ?? [];
    if (this.roots.length > 0) return this.roots;
    const why = this.controller.problem ?? 'connecting to the hub…';
    return [{ id: 'status', label: why, contextValue: 'status', icon: this.controller.problem ? 'error' : 'loading~spin' }];
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    // The three root groups stay expandable while empty: VS Code shows an item that was once
    // not expandable collapsed when it gets children, so the Sessions group closed itself each
    // time the last session ended and the next one came.
    const collapsible = rootGroups.has(node.id)
      ? vscode.TreeItemCollapsibleState.Expanded
      : node.children?.length
        ? vscode.TreeItemCollapsibleState.Collapsed
        : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(node.label, collapsible);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.contextValue = node.contextValue;
    if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon);
    if (node.checked !== undefined) {
      item.checkboxState = {
        state: node.checked ? vscode.TreeItemCheckboxState.Checked : vscode.TreeItemCheckboxState.Unchecked,
        tooltip: node.checked ? 'Exposed: uncheck to exclude it from this virtual server' : 'Not exposed: check to include it',
      };
    }
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
