import assert from 'node:assert/strict';
import { startTestHub, waitFor } from '../support/hubHarness';

/**
 * A child that crashes on start prints why on its first lines and a stack below: the upstream's
 * error keeps the line that says why, not only the last lines.
 */
describe("an upstream's start failure keeps the stderr line that says why", function () {
  this.timeout(30_000);

  it('names the missing directory a crashed child reported above its stack trace', async function () {
    const hub = await startTestHub(
      { servers: { crashy: { command: process.execPath, args: ['-e', "require('node:fs').readdirSync('/no/such/dir-for-hub-test')"] } } },
      { waitForReady: false, upstreamBackoffMs: 60_000 },
    );
    try {
      await waitFor(() => hub.hub.state().upstreams[0]?.state === 'failed', 15_000, 'the upstream to fail');
      const { lastError } = hub.hub.state().upstreams[0];
      assert.match(lastError ?? '', /Error: ENOENT: no such file or directory, scandir '\/no\/such\/dir-for-hub-test'/);
    } finally {
      await hub.close();
    }
  });
});
