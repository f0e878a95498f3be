import * as vscode from 'vscode';
import type { HubConfig } from '../core/config/config';
import { inputEnvVarName, type InputDeclaration } from '../core/config/configVariables';

const secretKey = (id: string) => `mcpSessionHub.input.${id}`;

/**
 * The values of the config's `${input:…}`, as VS Code keeps its own mcp.json inputs: asked once
 * (with the input's description, hidden when it is a password), kept in SecretStorage, asked
 * again only by the "Enter Input Values" command. The config loader reads `current` synchronously.
 */
export class InputValues implements vscode.Disposable {
  private values: Record<string, string> = {};
  /** Inputs the user dismissed in this window: not asked again unprompted. */
  private readonly dismissed = new Set<string>();
  private readonly subscription: vscode.Disposable;

  constructor(private readonly secrets: vscode.SecretStorage) {
    // Another window may answer too: take its value (our own stores come back here as well).
    this.subscription = secrets.onDidChange((event) => {
      if (!event.key.startsWith(secretKey(''))) return;
      const id = event.key.slice(secretKey('').length);
      void secrets.get(event.key).then((value) => {
        if (value === undefined) delete this.values[id];
        else this.values[id] = value;
      });
    });
  }

  get current(): Readonly<Record<string, string>> {
    return this.values;
  }

  /** Reads the stored values of these inputs. */
  async load(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const value = await this.secrets.get(secretKey(id));
      if (value !== undefined) this.values[id] = value;
    }
  }

  /**
   * Inputs that keep an upstream from starting and have no value anywhere (stored, the
   * environment, a default), and that the user has not dismissed.
   */
  missing(config: HubConfig): InputDeclaration[] {
    const ids = new Set([...config.upstreams.values()].filter((upstream) => upstream.cannotStart).flatMap((upstream) => upstream.inputs));
    return [...ids]
      .filter((id) => this.values[id] === undefined && process.env[inputEnvVarName(id)] === undefined && !this.dismissed.has(id))
      .flatMap((id) => {
        const declaration = config.inputs.get(id);
        return declaration && declaration.default === undefined ? [declaration] : [];
      });
  }

  /** Asks for one input and stores the answer; false when the user dismissed it. */
  async ask(input: InputDeclaration): Promise<boolean> {
    const title = `MCP Session Hub: ${input.description ?? `input '${input.id}'`}`;
    const options = (input.options ?? []).map((option) => (typeof option === 'string' ? { label: option, value: option } : { label: option.label ?? option.value, value: option.value }));
    const value =
      input.type === 'pickString' && options.length > 0
        ? (await vscode.window.showQuickPick(options, { title, placeHolder: input.id, ignoreFocusOut: true }))?.value
        : await vscode.window.showInputBox({
            title,
            prompt: `\${input:${input.id}} in the hub config`,
            password: input.password === true,
            value: input.password ? undefined : input.default,
            ignoreFocusOut: true,
          });
    if (value === undefined) {
      this.dismissed.add(input.id);
      return false;
    }
    this.dismissed.delete(input.id);
    this.values[input.id] = value;
    await this.secrets.store(secretKey(input.id), value);
    return true;
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
