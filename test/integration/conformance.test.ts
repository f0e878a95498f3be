import assert from 'node:assert/strict';
import { CONFORMANCE_FIXTURE_SCRIPT, runServerConformance, startConformanceFixture, type ConformanceRun } from '../conformance/runConformance';
import { startAuthProxy, type AuthProxy } from '../support/authProxy';
import { startTestHub, testToken, type TestHub } from '../support/hubHarness';

/**
 * The conformance suite's server scenarios, run against the fixture directly and through the hub
 * (fixture as a stdio child of the hub). Every scenario that passes directly must pass through it.
 */
describe('MCP conformance through the hub', function () {
  this.timeout(240_000);
  let hub: TestHub | undefined;
  let proxy: AuthProxy | undefined;
  let direct: ConformanceRun;
  let throughHub: ConformanceRun;

  before(async function () {
    const fixture = await startConformanceFixture();
    try {
      direct = await runServerConformance(fixture.url);
    } finally {
      await fixture.stop();
    }
    hub = await startTestHub({ servers: { conformance: { command: process.execPath, args: [CONFORMANCE_FIXTURE_SCRIPT, '--stdio'] } }, virtualServers: { conformance: { upstreams: ['conformance'], naming: 'bare' } } });
    // The suite's client cannot send the hub's token: a transparent proxy adds it and nothing else.
    proxy = await startAuthProxy(hub.url, testToken);
    // The scenarios call tools by their own names: a virtual server with bare naming serves them.
    throughHub = await runServerConformance(`${proxy.url}/servers/conformance/mcp`);
  });
  after(async () => {
    await proxy?.close();
    await hub?.close();
  });

  /**
   * Scenarios that need what the hub does not pass through yet (issue: notifications, progress,
   * server-to-client requests, subscriptions). Each must still fail: when one starts passing,
   * it leaves this list, so the list never hides a regression nor outlives its reason.
   */
  const knownGaps: Record<string, string> = {
    'tools-call-with-logging': 'upstream notifications/message are not forwarded to the session yet',
    'tools-call-sampling': 'sampling/createMessage from an upstream is not routed to the client yet',
    'tools-call-elicitation': 'elicitation/create from an upstream is not routed to the client yet',
    'elicitation-sep1034-defaults': 'elicitation/create from an upstream is not routed to the client yet',
    'elicitation-sep1330-enums': 'elicitation/create from an upstream is not routed to the client yet',
    'resources-subscribe': 'resources/subscribe is not supported by the hub yet',
    'resources-unsubscribe': 'resources/unsubscribe is not supported by the hub yet',
  };

  it('passes every scenario through the hub that the fixture passes directly, but for the listed gaps', function () {
    const passedDirect = direct.scenarios.filter((s) => s.passed).map((s) => s.name);
    const passedThroughHub = new Set(throughHub.scenarios.filter((s) => s.passed).map((s) => s.name));
    console.log(`      conformance: ${direct.passed} of ${direct.scenarios.length} passed directly, ${throughHub.passed} through the hub; known gaps: ${Object.keys(knownGaps).length}`);
    assert.ok(passedDirect.length >= 30, `only ${passedDirect.length} scenarios passed directly`);
    const regressions = throughHub.scenarios
      .filter((s) => !s.passed && passedDirect.includes(s.name) && !(s.name in knownGaps))
      .map((s) => `${s.name}: ${s.detail ?? ''}`);
    assert.deepEqual(regressions, [], 'scenarios that pass directly but fail through the hub');
    const closedGaps = Object.keys(knownGaps).filter((name) => passedThroughHub.has(name));
    assert.deepEqual(closedGaps, [], 'these now pass through the hub: remove them from knownGaps and the README');
    assert.equal(throughHub.passed, direct.passed - Object.keys(knownGaps).length);
  });
});
