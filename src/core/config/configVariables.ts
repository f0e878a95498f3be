import { basename, sep } from 'node:path';
import type { ConfigIssue } from '../infra/errors';

/**
 * The variables of VS Code's `mcp.json`, resolved in a server entry's strings. A variable is
 * either resolved, refused (a config error: unknown or unsupported, or an undeclared input), or
 * missing (it exists but has no value now: the upstream does not start, and its error names it).
 * Nothing unresolved is ever passed on as text.
 */

/** An entry of the file's `inputs` array, as VS Code writes it. */
export type InputDeclaration = {
  id: string;
  type: 'promptString' | 'pickString';
  description?: string;
  password?: boolean;
  default?: string;
  options?: Array<string | { label?: string; value: string }>;
};

export type VariableSources = {
  env: NodeJS.ProcessEnv;
  /** `${userHome}`. */
  userHome: string;
  /** `${workspaceFolder}`; unset: no folder (a window without one), so the variable is missing. */
  workspaceFolder?: string;
  /** The declared inputs, by id. */
  inputs: ReadonlyMap<string, InputDeclaration>;
  /** The value of a declared input, or undefined while it has none. */
  inputValue(id: string): string | undefined;
  /** What the user can do about an input without a value (set a variable, run a command). */
  howToGiveInput(id: string): string;
};

/** The hub's own per-instance variables (see instanceVariables.ts): left for each instance to fill. */
const instanceVariables = new Set(['sessionId', 'instanceDir']);

const variablePattern = /\$\{([^}]*)\}/g;

/**
 * A string whose every `${…}` is one `VariableResolver` knows: the JSON schema checks strings
 * with it as the user types (the resolver stays the judge when the file is loaded).
 */
export const knownVariablesPattern =
  '^(?:[^$]|\\$(?!\\{)|\\$\\{(?:input:[^}]+|env:(?!MCP_SESSION_HUB_)[A-Za-z_][A-Za-z0-9_]*|userHome|workspaceFolder|workspaceFolderBasename|pathSeparator|/|sessionId|instanceDir|(?!MCP_SESSION_HUB_)[A-Z_][A-Z0-9_]*(?::-[^}]*)?)\\})*$';

/**
 * The hub's own environment variables (its tokens, its inputs, its process family): never a
 * config variable, or an upstream's `env` or `headers` could hand the hub's tokens to a child
 * process or a remote server. Matched in any letter case (Windows' environment ignores it).
 */
export const hubVariablePrefix = 'MCP_SESSION_HUB_';

function isHubVariable(name: string): boolean {
  return name.toUpperCase().startsWith(hubVariablePrefix);
}

/** The environment variable a headless hub reads an input from: `MCP_SESSION_HUB_INPUT_GITHUB_TOKEN` for `github-token`. */
export function inputEnvVarName(id: string): string {
  return `MCP_SESSION_HUB_INPUT_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Resolves one upstream entry's strings. `issues` collects config errors; `missing` collects
 * why the upstream cannot start now. Each names the JSON path of the string.
 */
export class VariableResolver {
  readonly issues: ConfigIssue[] = [];
  readonly missing: string[] = [];
  /** Input ids this entry uses, so an importer or a prompt knows which to ask for. */
  readonly usedInputs = new Set<string>();

  constructor(private readonly sources: VariableSources) {}

  resolve(text: string, path: string): string {
    const resolved = text.replace(variablePattern, (whole, name: string) => this.valueOf(name, whole, path) ?? whole);
    // `${` with no `}` after it would otherwise go on as text.
    if (/\$\{[^}]*$/.test(text)) this.issues.push({ path, message: `unterminated variable in ${JSON.stringify(text)} (a "\${" with no "}")` });
    return resolved;
  }

  resolveRecord(record: Record<string, string> | undefined, path: string): Record<string, string> {
    return Object.fromEntries(Object.entries(record ?? {}).map(([key, value]) => [key, this.resolve(value, `${path}${jsonKey(key)}`)]));
  }

  private valueOf(name: string, whole: string, path: string): string | undefined {
    const { sources } = this;
    const colon = name.indexOf(':');
    const kind = colon < 0 ? name : name.slice(0, colon);
    const argument = colon < 0 ? '' : name.slice(colon + 1);
    switch (kind) {
      case 'env': {
        if (isHubVariable(argument)) return this.refuseHubVariable(whole, path);
        const value = sources.env[argument];
        if (value === undefined) this.missing.push(`${whole} at ${path}: the environment variable ${argument} is not set`);
        return value;
      }
      case 'input': {
        if (!sources.inputs.has(argument)) {
          const declared = [...sources.inputs.keys()].join(', ') || 'none';
          this.issues.push({ path, message: `${whole}: input '${argument}' is not declared in "inputs" (declared: ${declared})` });
          return undefined;
        }
        this.usedInputs.add(argument);
        const value = sources.inputValue(argument);
        if (value === undefined) this.missing.push(`input '${argument}' has no value (${whole} at ${path}): ${sources.howToGiveInput(argument)}`);
        return value;
      }
      case 'userHome':
        return sources.userHome;
      case 'workspaceFolder':
      case 'workspaceFolderBasename':
        if (sources.workspaceFolder === undefined) {
          this.missing.push(`${whole} at ${path}: no workspace folder is open`);
          return undefined;
        }
        return kind === 'workspaceFolder' ? sources.workspaceFolder : basename(sources.workspaceFolder);
      case 'pathSeparator':
      case '/':
        return sep;
      default: {
        if (instanceVariables.has(name)) return whole;
        // Claude Code's own syntax in .mcp.json: `${NAME}` and `${NAME:-default}` read the environment.
        const claude = /^([A-Z_][A-Z0-9_]*)(?::-(.*))?$/s.exec(name);
        if (claude) {
          if (isHubVariable(claude[1])) return this.refuseHubVariable(whole, path);
          const value = sources.env[claude[1]] ?? claude[2];
          if (value === undefined) this.missing.push(`${whole} at ${path}: the environment variable ${claude[1]} is not set`);
          return value;
        }
        this.issues.push({
          path,
          message: `${whole}: unsupported variable (supported: \${input:ID}, \${env:NAME}, \${userHome}, \${workspaceFolder}, \${workspaceFolderBasename}, \${pathSeparator}, \${/}, Claude Code's \${NAME} and \${NAME:-default}; per-session: \${sessionId}, \${instanceDir})`,
        });
        return undefined;
      }
    }
  }

  private refuseHubVariable(whole: string, path: string): undefined {
    this.issues.push({
      path,
      message: `${whole}: ${hubVariablePrefix}* variables are the hub's own (its tokens among them) and are never handed to an upstream; give the upstream a value of its own`,
    });
    return undefined;
  }
}

/** `.key` or `["odd key"]`, as `formatJsonPath` writes a key. */
function jsonKey(key: string): string {
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
