import assert from 'node:assert/strict';
import { MemoryReclaimer } from '../../src/hub/memoryReclaimer';
import { testLogger } from '../support/hubHarness';
import { sleep, until } from '../support/timing';

const mib = 1024 * 1024;

describe('MemoryReclaimer (collects output dropped for clients that do not read)', function () {
  this.timeout(20_000);

  it('collects once after a burst of drops, once the drops have stopped, and not for small ones', async function () {
    let collections = 0;
    const reclaimer = new MemoryReclaimer(testLogger(), () => Promise.resolve(void (collections += 1)), { quietMs: 300, maxWaitMs: 60_000 });
    try {
      reclaimer.dropped(100 * 1024); // below 1 MiB: V8 finds it in its own time
      await sleep(1_500);
      assert.equal(collections, 0);
      // A burst: nothing can run between these drops, so they must make one collection, not five.
      for (let i = 0; i < 5; i++) reclaimer.dropped(20 * mib);
      assert.equal(collections, 0, 'not while the drops go on');
      await until(() => collections > 0 || undefined, 'a collection after the burst', 10_000);
      await sleep(1_500);
      assert.equal(collections, 1, 'one collection for the burst');
      reclaimer.dropped(2 * mib);
      await until(() => collections > 1 || undefined, 'a collection after a later drop', 10_000);
      assert.equal(collections, 2, 'and one for a later drop');
    } finally {
      reclaimer.dispose();
    }
  });

  it('does not wait for drops that never stop: the first one bounds the wait', async function () {
    let collections = 0;
    // Drops every 100 ms never leave the 10 s quiet: only the bound can set off the collection.
    const reclaimer = new MemoryReclaimer(testLogger(), () => Promise.resolve(void (collections += 1)), { quietMs: 10_000, maxWaitMs: 1_000 });
    try {
      const started = Date.now();
      while (collections === 0 && Date.now() - started < 9_000) {
        reclaimer.dropped(2 * mib);
        await sleep(100);
      }
      assert.equal(collections, 1, `no collection ${Date.now() - started} ms after the first drop`);
    } finally {
      reclaimer.dispose();
    }
  });

  it('gives back the heap of dropped strings with its own collection, without --expose-gc', async function () {
    const reclaimer = new MemoryReclaimer(testLogger());
    try {
      let garbage: string[] | undefined = Array.from({ length: 8 }, (_, i) => `${'y'.repeat(4 * mib)}${i}`).map((s) => JSON.parse(JSON.stringify(s)) as string);
      const held = process.memoryUsage().heapUsed;
      assert.ok(garbage.length === 8);
      garbage = undefined;
      reclaimer.dropped(32 * mib);
      for (let i = 0; i < 50 && reclaimer.collected === 0; i++) await sleep(100);
      const heap = process.memoryUsage().heapUsed;
      assert.equal(reclaimer.collected, 1);
      assert.ok(heap < held - 24 * mib, `heap ${(heap / mib).toFixed(0)} MiB after, ${(held / mib).toFixed(0)} MiB before`);
    } finally {
      reclaimer.dispose();
    }
  });

  it('does nothing once disposed', async function () {
    let collections = 0;
    const reclaimer = new MemoryReclaimer(testLogger(), () => Promise.resolve(void (collections += 1)));
    reclaimer.dropped(20 * mib);
    reclaimer.dispose();
    reclaimer.dropped(20 * mib);
    await sleep(1_500);
    assert.equal(collections, 0);
  });
});
