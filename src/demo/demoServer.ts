// Demo upstream MCP server ("demo-items") bundled as dist/demo-server.js.
// The hub's default config spawns it over stdio so `npm start` works out of the box,
// and integration tests use it as a real, deterministic upstream.
// stdout carries the protocol: diagnostics go to stderr only.
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { CallToolResult, isJSONRPCRequest, JSONRPCMessage, McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const SERVER_NAME = 'demo-items';
const SERVER_VERSION = '1.0.0';
const JSON_MIME = 'application/json';
/** MCP's "resource not found" code; the SDK's ErrorCode enum has no member for it. */
const RESOURCE_NOT_FOUND = -32002;
const SUMMARY_STYLES = ['short', 'detailed'] as const;

const README = `# demo-items

An in-memory item store that ships with MCP Session Hub.

- Tools: create_item, list_items, get_item, update_item, delete_item, echo, count_slowly.
- Resources: demo://items (all items), demo://items/{id} (one item), demo://readme.
- Prompt: summarize_items (style: short | detailed).

Items live only as long as this process. Behind the hub's safe mode a session may
update or delete only the items it created itself.
`;

// A type alias (not an interface) so items are assignable to structuredContent's record type.
type Item = { id: string; title: string; notes: string; createdAt: string };

const itemShape = {
  id: z.string(),
  title: z.string(),
  notes: z.string(),
  createdAt: z.string(),
};
const itemSchema = z.object(itemShape);
const titleSchema = z.string().min(1).max(200);

const items = new Map<string, Item>();

function allItems(): Item[] {
  return [...items.values()];
}

function itemUri(id: string): string {
  return `demo://items/${id}`;
}

/** A tool result carrying both the structured value and its JSON text for clients that ignore structuredContent. */
function structuredResult<T extends Record<string, unknown>>(value: T): CallToolResult {
  return {
    structuredContent: value,
    content: [{ type: 'text', text: JSON.stringify(value, null, 2) }],
  };
}

function toolError(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

function unknownItem(id: string): CallToolResult {
  return toolError(`no item with id ${id}`);
}

function jsonResource(uri: string, value: unknown) {
  return { contents: [{ uri, mimeType: JSON_MIME, text: JSON.stringify(value, null, 2) }] };
}

/** Appends one line per tools/call to DEMO_REQUEST_LOG, synchronously so it is on disk before any reply. */
function recordToolCall(message: JSONRPCMessage): void {
  const logPath = process.env.DEMO_REQUEST_LOG;
  if (!logPath || !isJSONRPCRequest(message) || message.method !== 'tools/call') return;
  const params = message.params ?? {};
  const line = { tool: params.name, arguments: params.arguments ?? {}, pid: process.pid };
  try {
    appendFileSync(logPath, `${JSON.stringify(line)}\n`);
  } catch (error) {
    process.stderr.write(`${SERVER_NAME}: cannot write request log: ${String(error)}\n`);
  }
}

function createServer(): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, version: SERVER_VERSION },
    { capabilities: { logging: {} } },
  );

  // Logging is a courtesy to the client: a failed notification must never fail the tool call.
  const announce = (data: string): void => {
    server.server.sendLoggingMessage({ level: 'info', logger: SERVER_NAME, data }).catch(() => undefined);
  };

  server.registerTool(
    'create_item',
    {
      description: 'Create an item with a title and optional notes; returns the new item and its id.',
      inputSchema: { title: titleSchema, notes: z.string().optional() },
      outputSchema: itemShape,
      annotations: { readOnlyHint: false, destructiveHint: false },
    },
    ({ title, notes }) => {
      const item: Item = { id: randomUUID(), title, notes: notes ?? '', createdAt: new Date().toISOString() };
      items.set(item.id, item);
      announce(`created item ${item.id}`);
      return structuredResult(item);
    },
  );

  server.registerTool(
    'list_items',
    {
      description: 'List all items, oldest first.',
      inputSchema: {},
      outputSchema: { items: z.array(itemSchema) },
      annotations: { readOnlyHint: true },
    },
    () => structuredResult({ items: allItems() }),
  );

  server.registerTool(
    'get_item',
    {
      description: 'Get one item by id.',
      inputSchema: { id: z.string() },
      outputSchema: itemShape,
      annotations: { readOnlyHint: true },
    },
    ({ id }) => {
      const item = items.get(id);
      return item ? structuredResult(item) : unknownItem(id);
    },
  );

  server.registerTool(
    'update_item',
    {
      description: "Change an item's title and/or notes; returns the updated item.",
      inputSchema: { id: z.string(), title: titleSchema.optional(), notes: z.string().optional() },
      outputSchema: itemShape,
      annotations: { readOnlyHint: false, destructiveHint: true },
    },
    ({ id, title, notes }) => {
      const item = items.get(id);
      if (!item) return unknownItem(id);
      const updated: Item = { ...item, title: title ?? item.title, notes: notes ?? item.notes };
      items.set(id, updated);
      return structuredResult(updated);
    },
  );

  server.registerTool(
    'delete_item',
    {
      description: 'Delete an item by id.',
      inputSchema: { id: z.string() },
      outputSchema: { deleted: z.string() },
      annotations: { readOnlyHint: false, destructiveHint: true },
    },
    ({ id }) => {
      if (!items.delete(id)) return unknownItem(id);
      announce(`deleted item ${id}`);
      return structuredResult({ deleted: id });
    },
  );

  server.registerTool(
    'echo',
    {
      description: 'Return the given text unchanged.',
      inputSchema: { text: z.string() },
      annotations: { readOnlyHint: true },
    },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  );

  server.registerTool(
    'count_slowly',
    {
      description: 'Count from 1 to `to`, pausing `delayMs` between steps and reporting progress; cancellable.',
      inputSchema: {
        to: z.number().int().min(1).max(100),
        delayMs: z.number().int().min(0).max(5000).default(100),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ to, delayMs }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let step = 1; step <= to; step++) {
        // Rejects with an AbortError once the client cancels, which ends the call.
        await sleep(delayMs, undefined, { signal: extra.signal });
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress: step, total: to, message: `counted ${step} of ${to}` },
          });
        }
      }
      return { content: [{ type: 'text', text: `counted to ${to}` }] };
    },
  );

  server.registerResource(
    'items',
    'demo://items',
    { description: 'All items as JSON.', mimeType: JSON_MIME },
    (uri) => jsonResource(uri.href, { items: allItems() }),
  );

  const itemTemplate = new ResourceTemplate('demo://items/{id}', {
    list: () => ({
      resources: allItems().map((item) => ({ uri: itemUri(item.id), name: item.title, mimeType: JSON_MIME })),
    }),
    complete: { id: (prefix) => [...items.keys()].filter((id) => id.startsWith(prefix)) },
  });
  server.registerResource(
    'item',
    itemTemplate,
    { description: 'One item as JSON.', mimeType: JSON_MIME },
    (uri, variables) => {
      const id = String(variables.id);
      const item = items.get(id);
      if (!item) throw new McpError(RESOURCE_NOT_FOUND, `no item with id ${id}`);
      return jsonResource(uri.href, item);
    },
  );

  server.registerResource(
    'readme',
    'demo://readme',
    { description: 'What this demo server is for.', mimeType: 'text/markdown' },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/markdown', text: README }] }),
  );

  server.registerPrompt(
    'summarize_items',
    {
      description: 'Ask the model to summarize the current items.',
      argsSchema: {
        style: completable(z.enum(SUMMARY_STYLES), (value) =>
          SUMMARY_STYLES.filter((style) => style.startsWith(value ?? '')),
        ),
      },
    },
    ({ style }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'text',
            text: `Give a ${style} summary of these items:\n\n${JSON.stringify(allItems(), null, 2)}`,
          },
        },
      ],
    }),
  );

  return server;
}

async function main(): Promise<void> {
  const server = createServer();
  const transport = new StdioServerTransport();
  // Protocol.connect chains a handler already set on the transport ahead of its own dispatch,
  // so the request log is written before the tool runs (or is rejected).
  transport.onmessage = recordToolCall;
  await server.connect(transport);

  // The client closing our stdin is the normal way to shut down.
  process.stdin.on('end', () => {
    void server.close().finally(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${SERVER_NAME}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
