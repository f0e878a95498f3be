import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { NamingMode, Selection, VirtualServerConfig } from '../config/config';
import { matchesAny } from './glob';
import { exposedName } from './naming';
import { stableStringify } from '../infra/stableJson';

/** What one upstream offers, as it last listed it. */
export type UpstreamCatalog = {
  tools: Tool[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  prompts: Prompt[];
};

export const emptyCatalog: UpstreamCatalog = Object.freeze({ tools: [], resources: [], resourceTemplates: [], prompts: [] });

export type CatalogCategory = keyof UpstreamCatalog;
export const catalogCategories: readonly CatalogCategory[] = ['tools', 'resources', 'resourceTemplates', 'prompts'];

/**
 * What a client endpoint may see: the global endpoint (every upstream, everything, prefixed names)
 * or one virtual server (its upstreams, its selection, its naming mode).
 */
export type View = {
  /** `undefined` for the global endpoint. */
  virtualServer?: string;
  label: string;
  upstreams: readonly string[];
  selections: Record<CatalogCategory, Selection>;
  naming: NamingMode;
};

const everything: Selection = { include: ['*'], exclude: [] };

export function globalView(upstreams: readonly string[]): View {
  return {
    label: 'the global endpoint',
    upstreams,
    selections: { tools: everything, resources: everything, resourceTemplates: everything, prompts: everything },
    naming: 'prefixed',
  };
}

export function virtualServerView(config: VirtualServerConfig): View {
  return {
    virtualServer: config.id,
    label: `virtual server '${config.id}'`,
    upstreams: config.upstreams,
    selections: {
      tools: config.tools,
      resources: config.resources,
      resourceTemplates: config.resourceTemplates,
      prompts: config.prompts,
    },
    naming: config.naming,
  };
}

/** Where a call for an exposed item goes: which upstream, and the upstream's own name or URI. */
export type Route = { upstream: string; name: string };
/** A tool's route with the upstream's definition (annotations drive safe mode). */
export type ToolRoute = Route & { tool: Tool };

type TemplateRoute = { upstream: string; template: ResourceTemplate; matcher: UriTemplate };

/**
 * One view's slice of the aggregated catalog, with the routing tables that enforce it.
 * Every call resolves through these tables: what is not in them never reaches an upstream.
 */
export class ScopedCatalog {
  readonly tools: Tool[] = [];
  readonly prompts: Prompt[] = [];
  readonly resources: Resource[] = [];
  readonly resourceTemplates: ResourceTemplate[] = [];
  /** Collisions and other reasons items were withheld; shown in the admin state. */
  readonly problems: string[] = [];

  private readonly toolRoutes = new Map<string, ToolRoute>();
  private readonly promptRoutes = new Map<string, Route>();
  private readonly resourceRoutes = new Map<string, Route>();
  private readonly templateRoutes: TemplateRoute[] = [];
  private fingerprintCache?: Record<CatalogCategory, string>;

  constructor(
    readonly view: View,
    catalogs: ReadonlyMap<string, UpstreamCatalog>,
  ) {
    const { selections, naming } = view;
    const selected = <T>(upstream: string, items: readonly T[], selection: Selection, keys: (item: T) => string[]) =>
      items.filter((item) => {
        const candidates = keys(item).map((key) => `${upstream}/${key}`);
        return matchesAny(selection.include, candidates) && !matchesAny(selection.exclude, candidates);
      });

    const named = <T extends { name: string }>(category: 'tool' | 'prompt', pick: (c: UpstreamCatalog) => T[], selection: Selection) => {
      const byName = new Map<string, { route: Route; item: T }[]>();
      for (const upstream of view.upstreams) {
        const items = selected(upstream, pick(catalogs.get(upstream) ?? emptyCatalog), selection, (i) => [i.name]);
        for (const item of items) {
          const name = exposedName(upstream, item.name, naming);
          const entries = byName.get(name) ?? [];
          entries.push({ route: { upstream, name: item.name }, item: { ...item, name } });
          byName.set(name, entries);
        }
      }
      const exposed: T[] = [];
      const routes = new Map<string, Route & { item: T }>();
      for (const [name, entries] of byName) {
        if (entries.length > 1) {
          // Fail closed: exposing either side would route some calls to the wrong upstream.
          const sides = entries.map((e) => `'${e.route.upstream}/${e.route.name}'`).join(' and ');
          this.problems.push(`${view.label}: ${category} name '${name}' is exposed by both ${sides}; neither is served (use naming "prefixed" or exclude one)`);
          continue;
        }
        exposed.push(entries[0].item);
        routes.set(name, { ...entries[0].route, item: entries[0].item });
      }
      return { exposed, routes };
    };

    const tools = named('tool', (c) => c.tools, selections.tools);
    this.tools = tools.exposed;
    for (const [name, { upstream, name: original, item }] of tools.routes) this.toolRoutes.set(name, { upstream, name: original, tool: item });
    const prompts = named('prompt', (c) => c.prompts, selections.prompts);
    this.prompts = prompts.exposed;
    for (const [name, { upstream, name: original }] of prompts.routes) this.promptRoutes.set(name, { upstream, name: original });

    // Resource URIs are never rewritten: they are meant to be meaningful outside the hub
    // (resource links in tool results refer to them). A URI two upstreams claim is withheld.
    const claimed = new Map<string, { upstream: string; resource: Resource }[]>();
    for (const upstream of view.upstreams) {
      const items = selected(upstream, (catalogs.get(upstream) ?? emptyCatalog).resources, selections.resources, (r) => [r.name, r.uri]);
      for (const resource of items) {
        const entries = claimed.get(resource.uri) ?? [];
        entries.push({ upstream, resource });
        claimed.set(resource.uri, entries);
      }
    }
    for (const [uri, entries] of claimed) {
      if (entries.length > 1) {
        this.problems.push(`${view.label}: resource '${uri}' is offered by both ${entries.map((e) => `'${e.upstream}'`).join(' and ')}; it is not served`);
        continue;
      }
      this.resources.push(entries[0].resource);
      this.resourceRoutes.set(uri, { upstream: entries[0].upstream, name: uri });
    }

    for (const upstream of view.upstreams) {
      const templates = selected(
        upstream,
        (catalogs.get(upstream) ?? emptyCatalog).resourceTemplates,
        selections.resourceTemplates,
        (t) => [t.name, t.uriTemplate],
      );
      for (const template of templates) {
        this.resourceTemplates.push(template);
        this.templateRoutes.push({ upstream, template, matcher: new UriTemplate(template.uriTemplate) });
      }
    }
  }

  resolveTool(name: string): ToolRoute | undefined {
    return this.toolRoutes.get(name);
  }

  resolvePrompt(name: string): Route | undefined {
    return this.promptRoutes.get(name);
  }

  /** A listed resource, else the first selected template (in upstream order) that matches the URI. */
  resolveResource(uri: string): Route | undefined {
    const listed = this.resourceRoutes.get(uri);
    if (listed) return listed;
    for (const route of this.templateRoutes) {
      if (safeMatch(route.matcher, uri)) return { upstream: route.upstream, name: uri };
    }
    return undefined;
  }

  /** For `completion/complete` on `ref/resource`: the template (or listed resource) must be in scope. */
  resolveResourceReference(uriOrTemplate: string): Route | undefined {
    const template = this.templateRoutes.find((route) => route.template.uriTemplate === uriOrTemplate);
    if (template) return { upstream: template.upstream, name: uriOrTemplate };
    return this.resourceRoutes.get(uriOrTemplate);
  }

  /** Per category, a fingerprint of what the view exposes: a change means `list_changed`. */
  get fingerprints(): Record<CatalogCategory, string> {
    this.fingerprintCache ??= {
      tools: stableStringify(this.tools),
      resources: stableStringify(this.resources),
      resourceTemplates: stableStringify(this.resourceTemplates),
      prompts: stableStringify(this.prompts),
    };
    return this.fingerprintCache;
  }
}

function safeMatch(matcher: UriTemplate, uri: string): boolean {
  try {
    return matcher.match(uri) !== null;
  } catch {
    return false;
  }
}
