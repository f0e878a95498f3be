import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { InitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { errorMessage, type Logger } from '../core/infra/logger';

/**
 * What it takes to serve a Streamable HTTP connection again after the hub restarted: its id
 * (the client's `Mcp-Session-Id`), the endpoint it was made on, the session key it joined with,
 * and its initialize request (protocol version, client capabilities and info). No token is kept.
 */
export type SavedConnection = { id: string; virtualServer: string | null; sessionKey?: string; initialize: InitializeRequest['params'] };

/**
 * The hub's open Streamable HTTP connections, in one small JSON file in its state folder, so a
 * client keeps its `Mcp-Session-Id` across a restart: the SDK's own client, and several agents,
 * do not initialize again after a 404. Written whole (aside, synced, renamed) on every open and
 * close; bounded to the hub's connection cap, oldest first out. A file that cannot be read is
 * logged and left aside: it costs clients a new initialize, never a wrong connection.
 */
export class SavedConnections {
  private readonly byId = new Map<string, SavedConnection>();
  private frozen = false;

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
    private readonly limit: () => number,
  ) {
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as { connections?: unknown };
      for (const entry of Array.isArray(parsed.connections) ? parsed.connections : []) {
        if (isSaved(entry)) this.byId.set(entry.id, entry);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn(`saved connections ${path} cannot be read (${errorMessage(error)}); clients will initialize again`);
    }
  }

  find(id: string): SavedConnection | undefined {
    return this.byId.get(id);
  }

  save(connection: SavedConnection): void {
    if (this.frozen) return;
    this.byId.delete(connection.id);
    this.byId.set(connection.id, connection);
    while (this.byId.size > this.limit()) this.byId.delete(this.byId.keys().next().value as string);
    this.write();
  }

  forget(id: string): void {
    if (this.frozen || !this.byId.delete(id)) return;
    this.write();
  }

  /** The hub is shutting down: its connections end with the process, not for their clients. */
  freeze(): void {
    this.frozen = true;
  }

  private write(): void {
    const aside = `${this.path}.writing`;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const fd = openSync(aside, 'w', 0o600);
      try {
        writeSync(fd, JSON.stringify({ connections: [...this.byId.values()] }));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(aside, this.path);
    } catch (error) {
      this.logger.warn(`saved connections ${this.path} cannot be written (${errorMessage(error)}); a restart will cost clients a new initialize`);
    }
  }
}

function isSaved(value: unknown): value is SavedConnection {
  const entry = value as Partial<SavedConnection> | null;
  return (
    !!entry &&
    typeof entry.id === 'string' &&
    (entry.virtualServer === null || typeof entry.virtualServer === 'string') &&
    (entry.sessionKey === undefined || typeof entry.sessionKey === 'string') &&
    !!entry.initialize &&
    typeof entry.initialize === 'object' &&
    typeof entry.initialize.protocolVersion === 'string'
  );
}
