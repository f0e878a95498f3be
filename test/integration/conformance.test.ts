import assert from 'node:assert/strict';
import { CONFORMANCE_FIXTURE_SCRIPT, runServerConformance, startConformanceFixture, type ConformanceOptions, type ConformanceRun, type RunningFixture } from '../conformance/runConformance';
import { startAuthProxy, type AuthProxy } from '../support/authProxy';
import { startTestHub, testToken, type TestHub } from '../support/hubHarness';

/**
 * The conformance suite's server scenarios, run against the fixture directly and through the hub:
 * with the fixture as the hub's stdio child, as a Streamable HTTP upstream, and as a per-session
 * Streamable HTTP upstream with no warm spare (each session's instance starts on its first use). Every
 * scenario that passes directly must pass through the hub: there is no list of exceptions.
 * Run with the pinned release and with the pinned pre-release ("conformance-next"), the latter held to the
 * released spec (its draft-spec scenarios need a stateless server the SDK does not provide yet).
 */
const SUITES: Record<string, ConformanceOptions> = {
  release: {},
  next: { cliPackage: 'conformance-next', specVersion: '2025-11-25' },
};
describe('MCP conformance through the hub', function () {
  this.timeout(300_000);
  let fixture: RunningFixture | undefined;
  const directRuns = new Map<string, ConformanceRun>();
  const throughHub = new Map<string, ConformanceRun>();

  /** Runs the suite through a hub whose one virtual server (bare names, as the scenarios call them) fronts `upstream`. */
  async function runThroughHub(upstream: unknown, suite: ConformanceOptions): Promise<ConformanceRun> {
    let hub: TestHub | undefined;
    let proxy: AuthProxy | undefined;
    try {
      hub = await startTestHub({ servers: { conformance: upstream }, virtualServers: { conformance: { upstreams: ['conformance'], naming: 'bare' } } });
      // The suite's client cannot send the hub's token: a transparent proxy adds it and nothing else.
      proxy = await startAuthProxy(hub.url, testToken);
      return await runServerConformance(`${proxy.url}/servers/conformance/mcp`, suite);
    } finally {
      await proxy?.close();
      await hub?.close();
    }
  }

  before(async function () {
    fixture = await startConformanceFixture();
    for (const [name, suite] of Object.entries(SUITES)) {
      directRuns.set(name, await runServerConformance(fixture.url, suite));
      throughHub.set(`${name} stdio`, await runThroughHub({ command: process.execPath, args: [CONFORMANCE_FIXTURE_SCRIPT, '--stdio'], attribution: 'single-flight' }, suite));
      throughHub.set(`${name} streamable-http`, await runThroughHub({ type: 'http', url: fixture.url }, suite));
      throughHub.set(`${name} per-session streamable-http`, await runThroughHub({ type: 'http', url: fixture.url, perSession: true, warm: 0 }, suite));
    }
  });
  after(async () => fixture?.stop());

  for (const suiteName of Object.keys(SUITES)) {
    for (const upstreamTransport of ['stdio', 'streamable-http', 'per-session streamable-http']) {
      it(`passes every scenario through the hub that the fixture passes directly (${suiteName}, ${upstreamTransport} upstream)`, function () {
        const direct = directRuns.get(suiteName);
        const run = throughHub.get(`${suiteName} ${upstreamTransport}`);
        assert.ok(direct && run);
        console.log(`      conformance: ${direct.passed} of ${direct.scenarios.length} passed directly, ${run.passed} of ${run.scenarios.length} through the hub`);
        assert.ok(direct.passed >= 30, `only ${direct.passed} scenarios passed directly`);
        const passedDirect = direct.scenarios.filter((s) => s.passed).map((s) => s.name);
        const regressions = run.scenarios.filter((s) => !s.passed && passedDirect.includes(s.name)).map((s) => `${s.name}: ${s.detail ?? ''}`);
        assert.deepEqual(regressions, [], 'scenarios that pass directly but fail through the hub');
        assert.equal(run.passed, direct.passed);
      });
    }
  }
});
