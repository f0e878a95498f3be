import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, startTestHub, tempDir, waitFor, type TestHub } from '../../support/hubHarness';
import { hostileEvents, hostileUpstream } from './attackHarness';

type Observed = { client: Client; logs: string[]; samplings: string[] };

/** Break 4: what a shared stdio upstream sends after answering must not reach a session by guess. */
describe('attack: late messages from a shared stdio upstream', function () {
  this.timeout(40_000);
  let hub: TestHub;
  let strictLog: string;
  let looseLog: string;
  before(async () => {
    const dir = tempDir();
    strictLog = join(dir, 'strict.log');
    looseLog = join(dir, 'loose.log');
    hub = await startTestHub({
      servers: { strict: hostileUpstream(strictLog), loose: hostileUpstream(looseLog, { attribution: 'single-flight' }) },
      virtualServers: { strict: { upstreams: ['strict'], naming: 'bare' }, loose: { upstreams: ['loose'], naming: 'bare' } },
    });
  });
  after(async () => hub?.close());

  async function observed(virtualServer: string, name: string): Promise<Observed> {
    const logs: string[] = [];
    const samplings: string[] = [];
    const client = await connectClient(hub.url, {
      virtualServer,
      name,
      capabilities: { sampling: {} },
      beforeConnect: (c) => {
        c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
        c.setRequestHandler(CreateMessageRequestSchema, (request) => {
          samplings.push(JSON.stringify(request.params.messages));
          return { role: 'assistant', content: { type: 'text', text: `${name} answers` }, model: 'test' };
        });
      },
    });
    await client.setLoggingLevel('debug');
    return { client, logs, samplings };
  }

  const lateOutcome = (log: string, tag: string) => () => hostileEvents(log).find((e) => e.tag === tag && e.event.startsWith('late sampling'))?.event;

  it('gives a late log and a late sampling request to nobody when no request is in flight', async function () {
    const alice = await observed('strict', 'alice');
    const bob = await observed('strict', 'bob');
    try {
      await alice.client.callTool({ name: 'answer_then_late', arguments: { tag: 'quiet', delayMs: 200 } });
      await waitFor(() => lateOutcome(strictLog, 'quiet')() !== undefined, 15_000, 'the late sampling request to be answered or refused');
      assert.equal(lateOutcome(strictLog, 'quiet')(), 'late sampling refused');
      for (const who of [alice, bob]) {
        assert.deepEqual(who.logs.filter((l) => l.includes('late')), []);
        assert.deepEqual(who.samplings, []);
      }
    } finally {
      await alice.client.close();
      await bob.client.close();
    }
  });

  /**
   * Bob's call is in flight before Alice's starts, and until long after the upstream sends its late
   * messages for Alice; returns both sessions and what became of the late sampling request.
   */
  async function lateWhileBobWaits(virtualServer: 'strict' | 'loose', tag: string): Promise<{ alice: Observed; bob: Observed; outcome?: string }> {
    const log = virtualServer === 'strict' ? strictLog : looseLog;
    const alice = await observed(virtualServer, 'alice');
    const bob = await observed(virtualServer, 'bob');
    try {
      const bobs = bob.client.callTool({ name: 'wait', arguments: { tag: `bob-${tag}`, delayMs: 8_000 } }, undefined, { timeout: 30_000 });
      await waitFor(() => hostileEvents(log).some((e) => e.tag === `bob-${tag}`), 10_000, "Bob's call to reach the upstream");
      await alice.client.callTool({ name: 'answer_then_late', arguments: { tag, delayMs: 300 } });
      await waitFor(() => lateOutcome(log, tag)() !== undefined, 15_000, 'the late sampling request to be answered or refused');
      await bobs;
      return { alice, bob, outcome: lateOutcome(log, tag)() };
    } finally {
      await alice.client.close();
      await bob.client.close();
    }
  }

  it("gives them to nobody while another session's call is in flight (strict, the default)", async function () {
    const { alice, bob, outcome } = await lateWhileBobWaits('strict', 'busy');
    assert.equal(outcome, 'late sampling refused');
    for (const who of [alice, bob]) {
      assert.deepEqual(who.logs.filter((l) => l.includes('late')), [], 'a late log reached a session');
      assert.deepEqual(who.samplings, [], 'a late sampling request reached a session');
    }
    assert.ok(hub.logLines.some((line) => /kept in the hub's log only: upstream 'strict' sent it on its stdio stream/.test(line)));
  });

  it('with attribution "single-flight", the documented window: the one session in flight gets them', async function () {
    const { alice, bob, outcome } = await lateWhileBobWaits('loose', 'window');
    assert.deepEqual(alice.samplings, []);
    assert.equal(outcome, 'late sampling answered');
    assert.equal(bob.samplings.length, 1, 'Bob, the only session in flight, was asked: the window README describes');
  });
});
