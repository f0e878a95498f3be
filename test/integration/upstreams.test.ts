import assert from 'node:assert/strict';
import { join } from 'node:path';
import { validateConfig } from '../../src/core/config/config';
import { startConformanceFixture, type RunningFixture } from '../conformance/runConformance';
import { adminAuth, connectClient, firstText as textOf, fixtureUpstream, isAlive, startTestHub, tempDir, testToken, waitFor, type TestHub } from '../support/hubHarness';
import { rawRequest } from '../support/rawHttp';


describe('upstreams', function () {
  describe('over Streamable HTTP and legacy SSE', function () {
    let fixture: RunningFixture;
    let inner: TestHub;
    let outer: TestHub;
    before(async () => {
      fixture = await startConformanceFixture();
      inner = await startTestHub({ servers: { up: fixtureUpstream(join(tempDir(), 'up.log')) } });
      const auth = { authorization: `Bearer ${testToken}` };
      // A second hub uses the first one's endpoints as its HTTP and SSE upstreams: both are real MCP servers.
      outer = await startTestHub({
        servers: {
          conf: { type: 'http', url: fixture.url },
          viaHttp: { type: 'http', url: `${inner.url}/mcp`, headers: auth },
          viaSse: { type: 'sse', url: `${inner.url}/sse`, headers: auth },
        },
      });
    });
    after(async () => {
      await outer?.close();
      await inner?.close();
      await fixture?.stop();
    });

    it('lists and calls tools of http and sse upstreams', async function () {
      const client = await connectClient(outer.url);
      try {
        const names = (await client.listTools()).tools.map((t) => t.name);
        assert.ok(names.includes('conf__test_simple_text'));
        assert.ok(names.includes('viaHttp__up__alpha'));
        assert.ok(names.includes('viaSse__up__beta'));
        assert.equal(textOf(await client.callTool({ name: 'viaHttp__up__alpha', arguments: { text: 'h' } })), 'scope-fixture/alpha:h');
        assert.equal(textOf(await client.callTool({ name: 'viaSse__up__beta', arguments: { text: 's' } })), 'scope-fixture/beta:s');
        assert.ok(textOf(await client.callTool({ name: 'conf__test_simple_text', arguments: {} })));
      } finally {
        await client.close();
      }
    });

    it('re-initializes when an HTTP upstream forgets its session (404) and retries the call', async function () {
      const client = await connectClient(outer.url);
      try {
        // End every session on the inner hub: the outer hub's upstream session is now unknown there.
        assert.equal((await rawRequest(`${inner.url}/admin/sessions`, { method: 'DELETE', headers: adminAuth })).status, 200);
        assert.equal(textOf(await client.callTool({ name: 'viaHttp__up__gamma', arguments: { text: 'again' } })), 'scope-fixture/gamma:again');
        assert.ok(outer.logLines.some((line) => line.includes('upstream forgot its session (404); re-initializing')));
      } finally {
        await client.close();
      }
    });
  });

  describe('failure and recovery', function () {
    let hub: TestHub;
    before(async () => {
      const dir = tempDir();
      hub = await startTestHub({ servers: { up: fixtureUpstream(join(dir, 'up.log')) } }, { upstreamBackoffMs: 50 });
    });
    after(async () => hub?.close());

    it('reconnects with a new child after the upstream crashes, and calls work again', async function () {
      const pid = hub.hub.state().upstreams[0].pid;
      assert.ok(pid && isAlive(pid));
      process.kill(pid, 'SIGKILL');
      await waitFor(() => hub.hub.state().upstreams[0].state !== 'ready', 5000, 'the crash to be noticed');
      await waitFor(() => hub.hub.state().upstreams[0].state === 'ready', 10_000, 'reconnect');
      const newPid = hub.hub.state().upstreams[0].pid;
      assert.ok(newPid && newPid !== pid);
      const client = await connectClient(hub.url);
      try {
        assert.equal(textOf(await client.callTool({ name: 'up__alpha', arguments: { text: 'back' } })), 'scope-fixture/alpha:back');
      } finally {
        await client.close();
      }
    });
  });

  it('keeps serving when one upstream cannot start, and reports why', async function () {
    const dir = tempDir();
    const hub = await startTestHub({ servers: { good: fixtureUpstream(join(dir, 'good.log')) } });
    try {
      await hub.hub.applyConfig(
        validateConfig(
          { servers: { good: fixtureUpstream(join(dir, 'good.log')), broken: { command: process.execPath, args: [join(dir, 'missing.js')] } } },
          'test',
        ),
        'test',
      );
      await waitFor(() => (hub.hub.state().upstreams.find((u) => u.id === 'broken')?.failures ?? 0) >= 2, 10_000, 'retries with backoff');
      const broken = hub.hub.state().upstreams.find((u) => u.id === 'broken');
      assert.equal(broken?.state === 'failed' || broken?.state === 'starting', true);
      const client = await connectClient(hub.url);
      try {
        assert.equal(textOf(await client.callTool({ name: 'good__alpha', arguments: { text: 'ok' } })), 'scope-fixture/alpha:ok');
      } finally {
        await client.close();
      }
      const state = hub.hub.state().upstreams.find((u) => u.id === 'broken');
      assert.match(state?.lastError ?? '', /Cannot find module|closed/i);
    } finally {
      await hub.close();
    }
  });

  it('ends every stdio child when the hub shuts down', async function () {
    const dir = tempDir();
    const hub = await startTestHub({ servers: { a: fixtureUpstream(join(dir, 'a.log')), b: fixtureUpstream(join(dir, 'b.log')) } });
    const pids = hub.hub.state().upstreams.map((u) => u.pid);
    assert.equal(pids.length, 2);
    for (const pid of pids) assert.ok(pid && isAlive(pid));
    await hub.close();
    for (const pid of pids) assert.ok(pid && !isAlive(pid), `upstream child ${pid} outlived the hub`);
  });
});
