import { validateConfig, type HubConfig } from './config';

/**
 * The config the hub runs when given none: the demo upstream shipped with the project and two
 * virtual servers over it, so `npm start` shows scoping and safe mode with nothing installed.
 */
export function defaultConfigJson(demoServerPath: string, nodePath: string = process.execPath) {
  return {
    servers: {
      demo: { type: 'stdio', command: nodePath, args: [demoServerPath] },
    },
    virtualServers: {
      reader: {
        title: 'Demo (read-only)',
        description: 'Reads the demo items: list, get, echo, resources and the summarize prompt. Nothing here can change an item.',
        upstreams: ['demo'],
        tools: { include: ['demo/list_items', 'demo/get_item', 'demo/echo', 'demo/count_slowly'] },
        naming: 'bare',
      },
      editor: {
        title: 'Demo (editor)',
        description: 'Creates, updates and deletes demo items. Safe mode lets a session change only the items it created.',
        upstreams: ['demo'],
        tools: { include: ['demo/*_item', 'demo/list_items'] },
        prompts: [],
        naming: 'bare',
      },
    },
  } as const;
}

export function defaultConfig(demoServerPath: string, nodePath?: string): HubConfig {
  return validateConfig(defaultConfigJson(demoServerPath, nodePath), 'embedded default config');
}
