import assert from 'node:assert/strict';
import { CONFORMANCE_FIXTURE_SCRIPT, runServerConformance, type ScenarioResult } from '../conformance/runConformance';
import { startAuthProxy } from '../support/authProxy';
import { startTestHub, testToken } from '../support/hubHarness';
import { spawnReady, type ReadyChild } from '../support/readyChild';

/** The conformance scenarios in which the server asks the client something during a tool call. */
const askingScenarios = ['tools-call-sampling', 'tools-call-elicitation', 'elicitation-sep1034-defaults', 'elicitation-sep1330-enums'];

/**
 * A Streamable HTTP upstream that sends sampling and elicitation on its standalone GET stream, as
 * the conformance repo's reference server does: nothing on the wire says whose tool call they
 * serve. The hub refuses them by default (`strict`) and gives them to the one session in flight
 * with `"attribution": "single-flight"`, the same rule as for stdio (issue 27 keeps this working
 * and documents it).
 */
describe('attribution of a Streamable HTTP upstream that asks on its standalone stream (conformance scenarios)', function () {
  this.timeout(300_000);
  let fixture: ReadyChild;

  before(async () => {
    fixture = await spawnReady(CONFORMANCE_FIXTURE_SCRIPT, ['--http', '--port', '0', '--standalone-requests']);
  });
  after(async () => fixture?.stop());

  async function throughHub(attribution: 'strict' | 'single-flight', scenario: string): Promise<ScenarioResult> {
    const hub = await startTestHub({ servers: { ref: { type: 'http', url: fixture.url, attribution } }, virtualServers: { ref: { upstreams: ['ref'], naming: 'bare' } } });
    const proxy = await startAuthProxy(hub.url, testToken).catch(async (error: unknown) => {
      await hub.close();
      throw error;
    });
    try {
      const run = await runServerConformance(`${proxy.url}/servers/ref/mcp`, { scenario });
      assert.equal(run.scenarios.length, 1);
      return run.scenarios[0];
    } finally {
      await proxy.close();
      await hub.close();
    }
  }

  for (const scenario of askingScenarios) {
    it(`passes ${scenario} with "attribution": "single-flight"`, async function () {
      const result = await throughHub('single-flight', scenario);
      assert.ok(result.passed, `${scenario}: ${result.detail ?? ''}`);
    });
  }

  for (const scenario of ['tools-call-sampling', 'tools-call-elicitation']) {
    it(`keeps the upstream's request in ${scenario} from every client by default ("strict")`, async function () {
      const result = await throughHub('strict', scenario);
      assert.equal(result.passed, false, 'a request nobody can attribute reached a client');
      assert.match(result.detail ?? '', /did not request (sampling|elicitation)/, result.detail);
    });
  }
});
