import { createHash } from 'node:crypto';
import type { HubState } from '../client/adminClient';

/** One MCP server for VS Code's chat: the VS Code layer turns it into an `McpHttpServerDefinition`. */
export type ServerDefinition = { id: string; label: string; uri: string; headers: Record<string, string>; version: string };

/**
 * The key that makes one VS Code workspace one logical session of the hub (`X-MCP-Hub-Session`):
 * its per-session instances and safe-mode ledger are shared by that window's servers and no other.
 */
export function workspaceSessionKey(workspaceId: string, workspaceName: string): string {
  const name = workspaceName.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40) || 'window';
  const hash = createHash('sha256').update(workspaceId).digest('hex').slice(0, 12);
  return `vscode:${name}-${hash}`;
}

/**
 * A definition per virtual server (and the global endpoint if asked). `version` changes when the
 * server's scope changes, so VS Code refreshes its tools.
 */
export function buildServerDefinitions(state: HubState, options: { token: string; sessionKey: string; includeGlobal: boolean }): ServerDefinition[] {
  const headers = { Authorization: `Bearer ${options.token}`, 'X-MCP-Hub-Session': options.sessionKey };
  const version = (scope: HubState['global']) =>
    createHash('sha256').update(JSON.stringify([scope.tools, scope.resources, scope.resourceTemplates, scope.prompts])).digest('hex').slice(0, 12);
  const definitions = state.virtualServers.map((vs) => ({
    id: vs.id,
    label: `Hub: ${vs.title || vs.id}`,
    uri: `${state.url}${vs.endpoints.streamableHttp}`,
    headers,
    version: version(vs),
  }));
  if (options.includeGlobal) {
    definitions.push({ id: '(global)', label: 'Hub: all upstreams', uri: `${state.url}${state.global.endpoints.streamableHttp}`, headers, version: version(state.global) });
  }
  return definitions;
}
