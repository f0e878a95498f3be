import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type ClientRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { catalogCategories, emptyCatalog, type CatalogCategory, type UpstreamCatalog } from '../core/scoping/catalog';
import { Emitter } from '../core/infra/events';
import type { Disposable } from '../core/infra/lifecycle';
import { errorMessage, type Logger } from '../core/infra/logger';
import { passthroughResult } from './passthrough';

const maxListPages = 100;

const listMethod: Record<CatalogCategory, { method: string; key: string; capability: 'tools' | 'resources' | 'prompts' }> = {
  tools: { method: 'tools/list', key: 'tools', capability: 'tools' },
  resources: { method: 'resources/list', key: 'resources', capability: 'resources' },
  resourceTemplates: { method: 'resources/templates/list', key: 'resourceTemplates', capability: 'resources' },
  prompts: { method: 'prompts/list', key: 'prompts', capability: 'prompts' },
};

/** How a catalog follows one connection's `list_changed` notifications. */
export type FollowOptions = {
  timeoutMs: number;
  /** False once the connection has been replaced: its lists are shown no more. */
  stillCurrent: () => boolean;
  /** Whether a change is told now; before that, the first full listing (still to come) shows it. */
  ready: () => boolean;
  logger: Logger;
};

/**
 * One upstream's catalog, kept per category, and the event that tells the hub it changed. Fetches overlap (the first full listing, and the
 * refreshes that `list_changed` notifications start, sometimes right after initialize), so each
 * fetch takes a generation when it starts, and a category only ever takes a result newer than
 * the one it shows: an older fetch finishing late can never write its stale lists back.
 */
export class CatalogStore implements Disposable {
  private readonly changed = new Emitter<UpstreamCatalog>();
  readonly onDidChange = this.changed.event;
  private value: UpstreamCatalog = emptyCatalog;
  private generation = 0;
  private readonly shown: Record<CatalogCategory, number> = { tools: 0, resources: 0, resourceTemplates: 0, prompts: 0 };

  get catalog(): UpstreamCatalog {
    return this.value;
  }

  /**
   * Lists `categories` from the upstream (following its cursors; a category the server lacks is
   * empty) and shows what no later fetch has replaced meanwhile. True if anything was shown.
   * `stillCurrent` is asked when the lists are in: a fetch of a connection since replaced shows nothing.
   */
  async fetch(client: Client, categories: readonly CatalogCategory[] = catalogCategories, timeoutMs: number, stillCurrent: () => boolean): Promise<boolean> {
    const generation = ++this.generation;
    const caps = client.getServerCapabilities() ?? {};
    const lists = await Promise.all(categories.map((category) => (caps[listMethod[category].capability] ? listAll(client, category, timeoutMs) : [])));
    if (!stillCurrent()) return false;
    let shown = false;
    categories.forEach((category, index) => {
      if (generation < this.shown[category]) return;
      this.shown[category] = generation;
      this.value = { ...this.value, [category]: lists[index] };
      shown = true;
    });
    return shown;
  }

  /** Tells listeners the catalog as it is now. */
  publish(): void {
    this.changed.fire(this.value);
  }

  /**
   * Fetches again the categories a `list_changed` notification from `client` names. A storm of
   * them costs one re-list in flight per category plus one trailing re-list (which sees every
   * change announced meanwhile), and nothing per notification beyond reading it.
   */
  follow(client: Client, options: FollowOptions): void {
    const refresh = (categories: CatalogCategory[]) => {
      let running = false;
      let again = false;
      const run = async (): Promise<void> => {
        running = true;
        try {
          do {
            again = false;
            await this.refresh(client, categories, options);
          } while (again && options.stillCurrent());
        } finally {
          running = false;
        }
      };
      return () => {
        if (running) again = true;
        else void run();
      };
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, refresh(['tools']));
    client.setNotificationHandler(PromptListChangedNotificationSchema, refresh(['prompts']));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, refresh(['resources', 'resourceTemplates']));
  }

  private async refresh(client: Client, categories: CatalogCategory[], { timeoutMs, stillCurrent, ready, logger }: FollowOptions): Promise<void> {
    try {
      // Only once ready: the first full listing is still to come, and shows these too.
      if ((await this.fetch(client, categories, timeoutMs, stillCurrent)) && ready()) this.publish();
    } catch (error) {
      logger.warn(`could not refresh ${categories.join(', ')}: ${errorMessage(error)}`);
    }
  }

  dispose(): void {
    this.changed.dispose();
  }

  describe(): string {
    const c = this.value;
    return `${c.tools.length} tools, ${c.resources.length} resources, ${c.resourceTemplates.length} templates, ${c.prompts.length} prompts`;
  }
}

async function listAll(client: Client, category: CatalogCategory, timeoutMs: number): Promise<unknown[]> {
  const { method, key } = listMethod[category];
  const items: unknown[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < maxListPages; page++) {
    const params = cursor ? { cursor } : {};
    const result = (await client.request({ method, params } as ClientRequest, passthroughResult, { timeout: timeoutMs })) as Record<string, unknown>;
    items.push(...((result[key] as unknown[] | undefined) ?? []));
    cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
    if (!cursor) break;
  }
  return items;
}
