import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { McpLogLevel } from '../core/infra/logLevels';
import { errorMessage, type Logger } from '../core/infra/logger';
import { passthroughResult } from './passthrough';

/**
 * What the hub asked of an upstream that a new connection forgets: its resource subscriptions
 * and its log level. Kept here across reconnects, and asked again after each.
 */
export class RenewedOnReconnect {
  private readonly subscribedUris = new Set<string>();
  private logLevel?: McpLogLevel;

  constructor(
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  addSubscription(uri: string): void {
    this.subscribedUris.add(uri);
  }

  /** False when `uri` was not subscribed. */
  dropSubscription(uri: string): boolean {
    return this.subscribedUris.delete(uri);
  }

  /** False when `level` is the level already set. */
  setLogLevel(level: McpLogLevel): boolean {
    if (level === this.logLevel) return false;
    this.logLevel = level;
    return true;
  }

  async applyLogLevel(client: Client, capabilities: ServerCapabilities): Promise<void> {
    if (!this.logLevel || !capabilities.logging) return;
    try {
      await client.request({ method: 'logging/setLevel', params: { level: this.logLevel } }, passthroughResult, { timeout: this.timeoutMs });
    } catch (error) {
      this.logger.warn(`could not set its log level to ${this.logLevel}: ${errorMessage(error)}`);
    }
  }

  /** After a reconnect the upstream has forgotten the old connection's subscriptions and level. */
  async renew(client: Client, capabilities: ServerCapabilities): Promise<void> {
    await this.applyLogLevel(client, capabilities);
    for (const uri of this.subscribedUris) {
      try {
        await client.request({ method: 'resources/subscribe', params: { uri } }, passthroughResult, { timeout: this.timeoutMs });
      } catch (error) {
        this.logger.warn(`could not renew the subscription to ${uri}: ${errorMessage(error)}`);
      }
    }
  }
}
