import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connectClient, firstText, startTestHub, tempDir, waitFor, type TestHub } from '../../support/hubHarness';
import { sleep } from '../../support/timing';
import { hostileEvents, hostileUpstream } from './attackHarness';

const starts = (log: string) => hostileEvents(log).filter((e) => e.event === 'started').length;

/** Break 9 (crash loops): an upstream that dies right after initialize must be retried ever more slowly. */
describe('attack: crash-looping upstreams', function () {
  this.timeout(60_000);

  it('backs off a shared upstream across restarts instead of restarting it about once a second', async function () {
    const log = join(tempDir(), 'shared.log');
    const startedAt = Date.now();
    // This upstream is never ready for long.
    const hub = await startTestHub({ servers: { loop: hostileUpstream(log, {}, { HOSTILE_CRASH_AFTER_INIT: '1' }) } }, { waitForReady: false });
    try {
      // Each start counts as a failure until the upstream has stayed up for a while, so the delay
      // doubles from 100 ms: 100+200+…+6400 ms leave room for about eight starts in 15 s. Without
      // that, every successful initialize resets the count and the delay stays at 100 ms.
      await waitFor(() => (hub.hub.state().upstreams[0]?.failures ?? 0) >= 4, 30_000, 'four failures in a row');
      const state = hub.hub.state().upstreams[0];
      assert.ok(state.nextAttemptAt !== undefined, 'the next try is shown');
      const delay = state.nextAttemptAt - state.since;
      assert.ok(delay >= 100 * 2 ** (state.failures - 1) * 0.9, `a delay of ${delay} ms after ${state.failures} failures`);
      await sleep(15_000 - (Date.now() - startedAt));
      const count = starts(log);
      console.log(`      starts in 15 s: ${count}, failures ${hub.hub.state().upstreams[0]?.failures}`);
      assert.ok(count <= 10, `${count} starts in 15 s`);
    } finally {
      await hub.close();
    }
  });

  it('does not restart a crashing per-session instance on every call, and says when the next try is', async function () {
    const log = join(tempDir(), 'instance.log');
    const hub: TestHub = await startTestHub({
      servers: { inst: hostileUpstream(log, { perSession: true, warm: 0 }, { HOSTILE_CRASH_ON_CALL: '1' }) },
      virtualServers: { inst: { upstreams: ['inst'], naming: 'bare' } },
    });
    const client = await connectClient(hub.url, { virtualServer: 'inst' });
    try {
      const before = starts(log);
      const answers: string[] = [];
      for (let i = 0; i < 10; i++) answers.push(firstText(await client.callTool({ name: 'wait', arguments: { tag: `t${i}`, delayMs: 0 } }).catch((e: Error) => ({ content: [{ type: 'text', text: e.message }] }))));
      const instanceStarts = starts(log) - before;
      console.log(`      instance starts for 10 calls: ${instanceStarts}`);
      assert.ok(instanceStarts <= 4, `${instanceStarts} instance starts for 10 calls`);
      assert.ok(answers.some((text) => /next try in \d+(\.\d+)? s/.test(text)), answers.join(' | '));
    } finally {
      await client.close();
      await hub.close();
    }
  });
});
