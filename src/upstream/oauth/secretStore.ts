import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Where the hub keeps what it must not show anyone: OAuth tokens, client registrations. String
 * values by name, the shape of VS Code's `SecretStorage`, so the VS Code layer backs it with that
 * and the CLI with `FileSecretStore`.
 */
export interface SecretStore {
  /** The value stored under `name`, or undefined. */
  get(name: string): Promise<string | undefined>;
  /** Stores `value` under `name`, replacing what was there. */
  set(name: string, value: string): Promise<void>;
  /** Forgets `name`; nothing happens when it is not stored. */
  delete(name: string): Promise<void>;
}

/** A store that lives as long as the hub: for tests and embedders that keep nothing. */
export class MemorySecretStore implements SecretStore {
  private readonly values = new Map<string, string>();

  get(name: string): Promise<string | undefined> {
    return Promise.resolve(this.values.get(name));
  }

  set(name: string, value: string): Promise<void> {
    this.values.set(name, value);
    return Promise.resolve();
  }

  delete(name: string): Promise<void> {
    this.values.delete(name);
    return Promise.resolve();
  }
}

/**
 * One JSON file only the user can read and write (0600, in a 0700 folder), written whole to a
 * temporary file and renamed, so a crash never leaves half a file. Read once; this process is its
 * only writer while the hub runs.
 */
export class FileSecretStore implements SecretStore {
  private values?: Map<string, string>;

  constructor(readonly path: string) {}

  get(name: string): Promise<string | undefined> {
    return Promise.resolve(this.load().get(name));
  }

  set(name: string, value: string): Promise<void> {
    const values = this.load();
    if (values.get(name) === value) return Promise.resolve();
    values.set(name, value);
    this.write(values);
    return Promise.resolve();
  }

  delete(name: string): Promise<void> {
    const values = this.load();
    if (values.delete(name)) this.write(values);
    return Promise.resolve();
  }

  private load(): Map<string, string> {
    if (this.values) return this.values;
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the hub's credential file ${this.path}: ${(error as Error).message}`);
      this.values = new Map();
      return this.values;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`the hub's credential file ${this.path} is not JSON; delete it to sign in again`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`the hub's credential file ${this.path} is not a JSON object; delete it to sign in again`);
    this.values = new Map(Object.entries(parsed as Record<string, unknown>).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    return this.values;
  }

  private write(values: Map<string, string>): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(Object.fromEntries(values), null, 2)}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, this.path);
  }
}
