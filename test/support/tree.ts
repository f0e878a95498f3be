import type { TreeNode } from '../../src/ui/treeModel';

/** The first node, depth first, that matches. */
export const findNode = (nodes: TreeNode[] | undefined, predicate: (node: TreeNode) => boolean): TreeNode | undefined => {
  for (const node of nodes ?? []) {
    if (predicate(node)) return node;
    const inner = findNode(node.children, predicate);
    if (inner) return inner;
  }
  return undefined;
};
