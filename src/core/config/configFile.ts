import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parseConfig, type ConfigContext, type HubConfig } from './config';
import { ConfigError } from '../infra/errors';
import type { Disposable } from '../infra/lifecycle';
import { errorMessage } from '../infra/logger';

/**
 * Reads and validates a config file; a missing or unreadable file is a `ConfigError` naming it.
 * Variables resolve against the process's environment unless the context says otherwise.
 */
export function loadConfigFile(path: string, context: ConfigContext = {}): HubConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(path, [{ path: '', message: `cannot read the file: ${errorMessage(error)}` }]);
  }
  return parseConfig(text, path, { env: process.env, ...context });
}

/**
 * Calls `onChange` when the config file changes. Editors save by rename as often as by write,
 * so the directory is watched and events are debounced.
 */
export function watchConfigFile(path: string, onChange: () => void, debounceMs = 150): Disposable {
  let timer: NodeJS.Timeout | undefined;
  const name = basename(path);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    });
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined;
  }
  return {
    dispose() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
