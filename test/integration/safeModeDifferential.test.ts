import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import fc from 'fast-check';
import { connectClient, transports, type TestHub } from '../support/hubHarness';
import { safeModeClient, startFilesAndMemoryHub } from '../support/safeModeHub';

/**
 * Differential: A makes a tree of folders, files and entities through the hub; B sends modifying
 * and destructive calls built from A's identifiers, respelled every way a generator can think of,
 * and B's client approves every question it gets. The oracle is the disk: A's folder and the
 * memory server's file, byte for byte, after every call. A question B approved about something of
 * A's would change them, so they also show that B was never asked about A's things.
 */
const seed = Number(process.env.SAFE_MODE_SEED ?? 20261202);
const callsPerTransport = 500;

/** A's folder as it is on disk: every entry's relative path, and each file's bytes. */
function snapshot(folder: string): string {
  const out: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) {
        out.push(`${prefix}${name}/`);
        walk(full, `${prefix}${name}/`);
      } else out.push(`${prefix}${name}=${readFileSync(full, 'base64')}`);
    }
  };
  walk(folder, '');
  return out.join('\n');
}

/** Ways to write one path that a server may read as the same file (or not: the oracle decides). */
function respelled(root: string, target: string): fc.Arbitrary<string> {
  const relative = target.slice(root.length + 1);
  const segments = relative.split('/');
  return fc.oneof(
    fc.constant(target),
    fc.constant(relative),
    fc.constant(target.normalize('NFD')),
    fc.constant(relative.normalize('NFD')),
    fc.constant(`${target}/`),
    fc.constant(`${target}/.`),
    fc.constant(target.replaceAll('/', '//')),
    fc.constant(target.toUpperCase()),
    fc.constant(`${root}/${segments.map((segment, i) => (i === segments.length - 1 ? segment.toUpperCase() : segment)).join('/')}`),
    fc.constant(`${root}/${segments.join('/./')}`),
    fc.constant(`${root}/x/../${relative}`),
    fc.constant(`${root}/${segments[0]}/\\/../${segments.slice(1).join('/') || 'x'}`),
    fc.constant(target.replaceAll('/', '\\')),
    fc.constant(`file://${encodeURI(target)}`),
    fc.constant(`file://localhost${encodeURI(target)}`),
    fc.integer({ min: 260, max: 2100 }).map((n) => `${root}/${segments[0]}/${'./'.repeat(n)}${segments.slice(1).join('/')}`),
    fc.constantFrom('\u0000', '\n', '\u001b', '\u007f').map((control) => `${target}${control}`),
    fc.constant(` ${target}`),
    fc.constant(`"${target}"`),
  );
}

describe('safe mode, differential: B respells A\'s identifiers every way, approving every question', function () {
  this.timeout(300_000);
  let hub: TestHub;
  let root: string;
  let memoryFile: string;
  const clients: Client[] = [];

  before(async () => {
    ({ hub, root, memoryFile } = await startFilesAndMemoryHub('hub-safe-diff-', { both: { upstreams: ['filesystem', 'memory'], naming: 'bare' } }));
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await hub?.close();
  });

  for (const transport of transports) {
    it(`leaves A's files and entities byte-equal after ${callsPerTransport} calls of B's (${transport})`, async function () {
      const a = await connectClient(hub.url, { virtualServer: 'both', transport });
      const { client: b, asked } = await safeModeClient(hub.url, 'both', { transport, decision: 'once' });
      clients.push(a, b);
      const mine = join(root, `A-${transport}`);
      const files = [join(mine, 'f1.txt'), join(mine, 'café', 'f2.txt'), join(mine, 'sub', 'f3.txt')];
      const folders = [mine, join(mine, 'café'), join(mine, 'sub')];
      for (const folder of folders) assert.ok(!(await a.callTool({ name: 'create_directory', arguments: { path: folder } })).isError);
      for (const file of files) assert.ok(!(await a.callTool({ name: 'write_file', arguments: { path: file, content: `A's ${file}` } })).isError);
      const names = [`Ada-${transport}`, `café-${transport}`, `${transport}-${'n'.repeat(1100)}`];
      assert.ok(!(await a.callTool({ name: 'create_entities', arguments: { entities: names.map((name) => ({ name, entityType: 'thing', observations: ['A'] })) } })).isError);
      assert.ok(!(await a.callTool({ name: 'create_relations', arguments: { relations: [{ from: names[0], to: names[1], relationType: 'knows' }] } })).isError);
      const theirs = join(root, `B-${transport}`);
      assert.ok(!(await b.callTool({ name: 'create_directory', arguments: { path: theirs } })).isError);

      const tree = snapshot(mine);
      const graphLines = readFileSync(memoryFile, 'utf8').split('\n').filter(Boolean);
      const targets = [...files, ...folders];
      const path = fc.constantFrom(...targets).chain((target) => respelled(root, target));
      const name = fc.constantFrom(...names).chain((n) =>
        fc.oneof(fc.constant(n), fc.constant(n.normalize('NFD')), fc.constant(`${n}\u0000`), fc.constant(n.toUpperCase()), fc.constant(` ${n}`)),
      );
      const fsCall = fc.oneof(
        path.map((p) => ({ name: 'write_file', arguments: { path: p, content: 'B' } })),
        path.map((p) => ({ name: 'edit_file', arguments: { path: p, edits: [{ oldText: "A's", newText: 'B' }] } })),
        path.map((p) => ({ name: 'move_file', arguments: { source: p, destination: join(theirs, `stolen-${Math.random().toString(36).slice(2)}`) } })),
        path.map((p) => ({ name: 'move_file', arguments: { source: join(theirs, 'nothing'), destination: p } })),
        path.map((p) => ({ name: 'create_directory', arguments: { path: `${p}/x` } })),
      );
      const memoryCall = fc.oneof(
        fc.array(name, { minLength: 1, maxLength: 3 }).map((list) => ({ name: 'delete_entities', arguments: { entityNames: [...list, list[0]] } })),
        name.map((n) => ({ name: 'add_observations', arguments: { observations: [{ entityName: n, contents: ['B'] }] } })),
        name.map((n) => ({ name: 'delete_observations', arguments: { deletions: [{ entityName: n, observations: ['A'] }] } })),
        fc.tuple(name, name).map(([from, to]) => ({ name: 'delete_relations', arguments: { relations: [{ from, to, relationType: 'knows' }] } })),
        name.map((n) => ({ name: 'create_entities', arguments: { entities: [{ name: n, entityType: 'impostor', observations: ['B'] }] } })),
      );
      let calls = 0;
      await fc.assert(
        fc.asyncProperty(fc.oneof(fsCall, memoryCall), async (generated) => {
          calls++;
          await b.callTool(generated);
          assert.equal(snapshot(mine), tree, `A's folder changed after ${JSON.stringify(generated).slice(0, 300)}`);
          // B's own new entities (another spelling is another name) may join the file; every line
          // of A's must stand unchanged, and no new line may name one of A's entities.
          const now = readFileSync(memoryFile, 'utf8').split('\n').filter(Boolean);
          const before = new Set(graphLines);
          for (const line of graphLines) assert.ok(now.includes(line), `A's graph lost ${line.slice(0, 120)} after ${JSON.stringify(generated).slice(0, 300)}`);
          for (const line of now.filter((l) => !before.has(l))) {
            const record = JSON.parse(line) as { name?: string; from?: string; to?: string };
            assert.ok(![record.name, record.from, record.to].some((value) => value !== undefined && names.includes(value)), `B's line names A's entity: ${line.slice(0, 200)}`);
          }
        }),
        { seed, numRuns: callsPerTransport, endOnFailure: true },
      );
      assert.equal(calls, callsPerTransport);
      // Questions about what is nobody's (a case-changed name is another entity) are fine; one about A's, approved, would have changed the disk.
      hub.logLines.push(`differential ${transport}: ${calls} calls, ${asked.length} asked`);
    });
  }
});
