import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connectClient, startTestHub, tempDir, transports, type TestHub } from '../../support/hubHarness';
import { callText, hostileEvents, hostileUpstream } from './attackHarness';

/** Break 2: one owned decoy must not carry a foreign id through, however it is placed or spelled. */
describe('attack: foreign ids beside an owned decoy', function () {
  let hub: TestHub;
  let log: string;
  before(async () => {
    log = join(tempDir(), 'hostile.log');
    hub = await startTestHub({ servers: { hostile: hostileUpstream(log) }, virtualServers: { things: { upstreams: ['hostile'], naming: 'bare' } } });
  });
  after(async () => hub?.close());

  const destructiveCalls = () => hostileEvents(log).filter((e) => e.event === 'call' && e.tool !== 'create_thing').length;

  for (const transport of transports) {
    it(`refuses every destructive call that touches an id B did not create (${transport})`, async function () {
      const alice = await connectClient(hub.url, { virtualServer: 'things', transport, name: 'alice' });
      const bob = await connectClient(hub.url, { virtualServer: 'things', transport, name: 'bob' });
      try {
        const aliceId = ((await callText(alice, 'create_thing', { title: 'alice' })).structured as { id: string }).id;
        const decoy = ((await callText(bob, 'create_thing', { title: 'bob' })).structured as { id: string }).id;
        const respelled = aliceId.toUpperCase().replaceAll('-', '');
        const attempts: [string, Record<string, unknown>][] = [
          ['purge_thing', { keys: { [aliceId]: true }, note: decoy }],
          ['remove_any', { id: respelled, note: decoy }],
          ['remove_any', { id: ` ${aliceId.toUpperCase()} `, also: decoy }],
          ['remove_any', { nested: [{ deep: [{ id: aliceId.replaceAll('-', ' - ') }] }], id: decoy }],
          ['purge_thing', { id: aliceId }],
          ['archive_thing', { id: aliceId }],
          ['thing_delete', { id: aliceId }],
          ['zap_thing', { id: aliceId }],
        ];
        const before = destructiveCalls();
        for (const [tool, args] of attempts) {
          const answer = await callText(bob, tool, args);
          assert.equal(answer.isError, true, `${tool} ${JSON.stringify(args)} got through`);
          assert.match(answer.text, new RegExp(`Safe mode refused '${tool}'`));
        }
        assert.equal(destructiveCalls(), before, 'a refused call reached the upstream');
        // The same tools on Bob's own thing are fine: the guard is about ownership, not the tools.
        for (const tool of ['zap_thing', 'thing_delete']) assert.equal((await callText(bob, tool, { id: decoy })).isError, false, tool);
        assert.equal((await callText(alice, 'remove_any', { id: respelled })).isError, false, 'Alice may use any spelling of her own id');
      } finally {
        await alice.close();
        await bob.close();
      }
    });
  }

  it('lists the guarded tools as the spec defaults say: without readOnlyHint true, possibly destructive', async function () {
    const bob = await connectClient(hub.url, { virtualServer: 'things', name: 'bob' });
    try {
      // A guarded tool with no id at all cannot be judged when its name or annotations say it destroys.
      for (const tool of ['purge_thing', 'archive_thing', 'thing_delete', 'zap_thing']) {
        assert.equal((await callText(bob, tool, {})).isError, true, `${tool} with no id got through`);
      }
    } finally {
      await bob.close();
    }
  });
});
