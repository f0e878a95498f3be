import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { parseConfig } from '../../src/core/config/config';
import type { AdminState } from '../../src/hub/adminState';
import { adminAuth, connectClient, demoUpstream, firstText, fixturesDir, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';
import { rawRequest } from '../support/rawHttp';
import { assertNoProcessLeftBehind, checkProperty, descendantsNow } from './reliabilityHarness';

/**
 * The watched config file replaced by invalid ones, generated (cut off anywhere, wrong in one
 * field, removed), while sessions work: each time the hub keeps its last good config, reports
 * the error with the file's path in the admin API and the log, and the sessions keep their
 * tools, their per-session instance and its state, and their owned ids. A valid file then applies.
 */

const faultFixture = join(fixturesDir, 'faultFixture.js');
const firstTools = ['mine/remember', 'mine/recall', 'demo/create_item', 'demo/get_item', 'demo/delete_item'];

type Variant = { why: string; text?: string };

describe('reliability: the config file replaced by an invalid one', function () {
  this.timeout(60_000);
  const dir = tempDir('hub-reliability-config-');
  const configPath = join(dir, 'hub.jsonc');
  let hub: TestHub;
  let processesBefore: Set<number>;
  const clients: Client[] = [];

  const config = (tools: string[]) => ({
    servers: {
      mine: { command: process.execPath, args: [faultFixture], perSession: true, warm: 0 },
      demo: demoUpstream(join(dir, 'demo.jsonl')),
    },
    virtualServers: { work: { upstreams: ['mine', 'demo'], tools } },
  });
  /** The file as a person would write it: JSONC with a comment and a trailing comma. */
  const jsonc = (value: unknown) => `// hub config\n${JSON.stringify(value, null, 2).replace(/\n}$/, ',\n}')}\n`;
  const goodText = jsonc(config(firstTools));

  const wrongInOneField = (change: (value: ReturnType<typeof config>) => unknown, why: string): Variant => {
    const value = config(firstTools);
    return { why, text: JSON.stringify(change(value)) };
  };
  const invalidVariants: fc.Arbitrary<Variant> = fc.oneof(
    fc
      .nat()
      .map((at) => ({ why: `cut off after ${at % goodText.length} characters`, text: goodText.slice(0, at % goodText.length) }))
      .filter((variant) => {
        // A cut that happens to leave a valid file (after the closing brace) is not this test's case.
        try {
          parseConfig(variant.text, configPath);
          return false;
        } catch {
          return true;
        }
      }),
    fc.constantFrom<Variant>(
      { why: 'not JSON', text: 'servers = mine' },
      wrongInOneField((c) => ({ ...c, virtualServers: { work: { upstreams: ['nope'] } } }), 'a virtual server of an unknown upstream'),
      wrongInOneField((c) => ({ ...c, virtualServers: { work: { upstreams: ['mine'], tols: [] } } }), 'a typo in a virtual server'),
      wrongInOneField((c) => ({ ...c, servers: { ...c.servers, mine: { ...c.servers.mine, timeout: 5 } } }), 'a timeout below the minimum'),
      wrongInOneField((c) => ({ ...c, servers: { ...c.servers, 'bad id': c.servers.demo } }), 'an upstream id with a space'),
      wrongInOneField((c) => ({ ...c, mcpServers: { demo: c.servers.demo } }), 'one id in servers and mcpServers'),
      wrongInOneField((c) => ({ ...c, hub: { maxBodyBytes: 'big' } }), 'a setting of the wrong type'),
      wrongInOneField((c) => ({ ...c, virtualServers: 7 }), 'virtualServers not an object'),
      wrongInOneField((c) => ({ ...c, servers: { ...c.servers, mine: { type: 'stdio' } } }), 'a stdio upstream without a command'),
      { why: 'the file removed' },
    ),
  );

  async function adminState(): Promise<AdminState> {
    const response = await rawRequest(`${hub.url}/admin/state`, { headers: adminAuth, timeoutMs: 5_000 });
    assert.equal(response.status, 200);
    return JSON.parse(response.body) as AdminState;
  }

  before(async function () {
    processesBefore = descendantsNow();
    writeFileSync(configPath, goodText);
    hub = await startTestHub(undefined, { configPath });
  });
  after(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await hub?.close();
  });

  it('keeps the last good config through generated invalid files, reports each with its path, and the sessions keep everything; then a valid file applies', async function () {
    let listChanged = 0;
    const alice = await connectClient(hub.url, {
      virtualServer: 'work',
      name: 'alice',
      beforeConnect: (c) => c.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++),
    });
    const bob = await connectClient(hub.url, { virtualServer: 'work', transport: 'sse', name: 'bob' });
    clients.push(alice, bob);
    await alice.callTool({ name: 'mine__remember', arguments: { value: 'alice' } });
    await bob.callTool({ name: 'mine__remember', arguments: { value: 'bob' } });
    const aliceRecall = firstText(await alice.callTool({ name: 'mine__recall' }));
    const bobRecall = firstText(await bob.callTool({ name: 'mine__recall' }));
    const itemOf = async (c: Client) => ((await c.callTool({ name: 'demo__create_item', arguments: { title: 'mine' } })).structuredContent as { id: string }).id;
    const aliceItem = await itemOf(alice);
    const bobItem = await itemOf(bob);
    const toolsBefore = (await alice.listTools()).tools.map((tool) => tool.name).sort();
    const stateBefore = await adminState();
    const demoPid = stateBefore.upstreams.find((upstream) => upstream.id === 'demo')?.pid;

    const assertSessionsUnaffected = async (why: string) => {
      assert.equal(firstText(await alice.callTool({ name: 'mine__recall' })), aliceRecall, `${why}: Alice's instance`);
      assert.equal(firstText(await bob.callTool({ name: 'mine__recall' })), bobRecall, `${why}: Bob's instance`);
      for (const c of [alice, bob]) assert.deepEqual((await c.listTools()).tools.map((tool) => tool.name).sort(), toolsBefore, `${why}: tools`);
      assert.equal((await bob.callTool({ name: 'demo__get_item', arguments: { id: aliceItem } })).isError, undefined, `${why}: reading`);
      assert.match(firstText(await bob.callTool({ name: 'demo__delete_item', arguments: { id: aliceItem } })), /^Safe mode refused/, `${why}: ownership`);
      const state = await adminState();
      assert.deepEqual(state.virtualServers, stateBefore.virtualServers, `${why}: virtual servers`);
      assert.equal(state.upstreams.find((upstream) => upstream.id === 'demo')?.pid, demoPid, `${why}: the shared upstream was restarted`);
    };

    let variants = 0;
    await checkProperty('invalid config files', invalidVariants, 14, async (variant) => {
      variants++;
      const lastErrorAt = (await adminState()).hub.configError?.at ?? 0;
      if (variant.text === undefined) rmSync(configPath, { force: true });
      else writeFileSync(configPath, variant.text);
      const expected = variant.text === undefined ? /cannot read the file/ : /invalid hub config/;
      let message = '';
      await waitFor(
        async () => {
          const error = (await adminState()).hub.configError;
          message = error?.message ?? '';
          return (error?.at ?? 0) > lastErrorAt && expected.test(message);
        },
        5_000,
        `the hub to report the config error for ${variant.why}`,
      );
      assert.ok(message.includes(configPath), `${variant.why}: the error does not name the file: ${message}`);
      const logged = hub.logLines.filter((line) => line.includes(configPath) && line.includes('keeping the last good config'));
      assert.ok(logged.length >= variants, `${variant.why}: not in the log`);
      await assertSessionsUnaffected(variant.why);
    });
    assert.equal(listChanged, 0, 'a refused config changed a catalog');

    // A valid file applies at once: the error clears and Alice's catalog grows, her instance kept.
    writeFileSync(configPath, jsonc(config([...firstTools, 'mine/slow'])));
    await waitFor(async () => (await adminState()).hub.configError === undefined, 5_000, 'the good config to apply');
    await waitFor(() => listChanged > 0, 5_000, 'tools/list_changed');
    assert.ok((await alice.listTools()).tools.some((tool) => tool.name === 'mine__slow'));
    assert.equal(firstText(await alice.callTool({ name: 'mine__recall' })), aliceRecall);
    assert.equal(firstText(await bob.callTool({ name: 'mine__recall' })), bobRecall);
    assert.equal((await alice.callTool({ name: 'demo__delete_item', arguments: { id: aliceItem } })).isError, undefined, 'Alice lost her item');
    assert.equal((await bob.callTool({ name: 'demo__delete_item', arguments: { id: bobItem } })).isError, undefined, 'Bob lost his item');
  });

  it('leaves no process behind when it closes', async function () {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await hub.close();
    await assertNoProcessLeftBehind(processesBefore, 'the config hub');
  });
});
