import { createHash } from 'node:crypto';
import type { NamingMode } from '../config/config';

/**
 * How the hub names the tools and prompts it exposes.
 *
 * - `prefixed` (the global endpoint, and virtual servers by default): `<upstream>__<name>`,
 *   so two upstreams' `search` become `github__search` and `docs__search`.
 * - `bare`: the upstream's own name; two selected items with one name are a config error.
 *
 * Exposed names keep to `[A-Za-z0-9_.-]` and 64 characters, as clients such as VS Code and
 * Claude require: other characters become `_`, and a longer name is cut to 55 characters
 * plus `_` and 8 hex digits of a hash of the full name, so cut names stay distinct.
 * Routing never parses names back: every exposed name maps to its upstream in a table.
 */
export const namespaceSeparator = '__';
export const maxNameLength = 64;

/**
 * The part of prefixed names that stands for an upstream: its id with every character outside
 * `[A-Za-z0-9_-]` made `_`, so ids as VS Code allows them (`io.github.owner/server`) give names
 * every model accepts. The config refuses two ids with one prefix.
 */
export function upstreamNamePrefix(upstream: string): string {
  return upstream.replace(/[^A-Za-z0-9_-]/g, '_');
}

export function exposedName(upstream: string, name: string, mode: NamingMode): string {
  const full = mode === 'prefixed' ? `${upstreamNamePrefix(upstream)}${namespaceSeparator}${name}` : name;
  const safe = full.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (safe.length <= maxNameLength && safe.length > 0) return safe;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${safe.slice(0, maxNameLength - 9)}_${hash}`;
}
