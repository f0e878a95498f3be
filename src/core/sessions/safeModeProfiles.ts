import type { ExistenceProbe, SafeModeToolRule } from './safeMode';

/**
 * What safe mode knows of a popular server beyond its schemas: tools whose identifiers no
 * property name gives away (a `pid`), tools that run arbitrary commands, where created ids stand
 * in results, and how to ask whether a path already exists. Matched by the upstream's
 * `serverInfo.name`; an upstream's `safeMode.profile` picks one by name or turns it off, and its
 * `safeMode.tools` replace a profile's rule tool by tool.
 */
export type SafeModeProfile = {
  /** `serverInfo.name` values the profile applies to. */
  serverNames: readonly string[];
  tools: Readonly<Record<string, SafeModeToolRule>>;
  existenceProbe?: ExistenceProbe;
  /** Its `path` arguments name things inside a remote store (a repository), not files: compared exactly. */
  pathsAreNames?: boolean;
};

const getFileInfo: ExistenceProbe = { tool: 'get_file_info', argument: 'path' };
const pid: SafeModeToolRule = { kind: 'destructive', idArguments: ['pid'] };

export const safeModeProfileNames = ['desktop-commander', 'filesystem', 'memory', 'playwright', 'github'] as const;

export const safeModeProfiles: Readonly<Record<(typeof safeModeProfileNames)[number], SafeModeProfile>> = {
  'desktop-commander': {
    serverNames: ['desktop-commander'],
    existenceProbe: getFileInfo,
    tools: {
      start_process: { kind: 'command', commandArgument: 'command', idPattern: 'PID (\\d+)' },
      kill_process: pid,
      force_terminate: pid,
      interact_with_process: pid,
      // It can widen the folders the server may touch, or the commands it may run.
      set_config_value: { kind: 'command', commandArgument: 'value' },
    },
  },
  filesystem: {
    serverNames: ['secure-filesystem-server'],
    existenceProbe: getFileInfo,
    tools: {},
  },
  memory: {
    serverNames: ['memory-server'],
    // Its create_entities answers with only the entities it made: the names there are what is owned.
    tools: {},
  },
  playwright: {
    serverNames: ['Playwright', 'playwright'],
    tools: {
      browser_evaluate: { kind: 'command', commandArgument: 'function' },
      browser_run_code: { kind: 'command', commandArgument: 'code' },
    },
  },
  github: {
    serverNames: ['github-mcp-server', 'github/github-mcp-server'],
    pathsAreNames: true,
    tools: {
      create_issue: { kind: 'create', idPattern: '"number":\\s*(\\d+)' },
      update_issue: { kind: 'destructive', idArguments: ['issue_number'] },
      add_issue_comment: { kind: 'destructive', idArguments: ['issue_number'] },
      create_pull_request: { kind: 'create', idPattern: '"number":\\s*(\\d+)' },
      update_pull_request: { kind: 'destructive', idArguments: ['pullNumber', 'pull_number'] },
      merge_pull_request: { kind: 'destructive', idArguments: ['pullNumber', 'pull_number'] },
      create_or_update_file: { kind: 'destructive', idArguments: ['path', 'branch'] },
      delete_file: { kind: 'destructive', idArguments: ['path', 'branch'] },
      push_files: { kind: 'destructive', idArguments: ['branch', '/files/*/path'] },
    },
  },
};

/** The profile an upstream uses: the one its config names, none, or the one matching its server's name. */
export function profileFor(configured: string | false | undefined, serverName: string | undefined): SafeModeProfile | undefined {
  if (configured === false) return undefined;
  if (configured !== undefined) return (safeModeProfiles as Record<string, SafeModeProfile>)[configured];
  if (serverName === undefined) return undefined;
  return Object.values(safeModeProfiles).find((profile) => profile.serverNames.includes(serverName));
}
