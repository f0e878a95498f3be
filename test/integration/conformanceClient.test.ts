import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatTable, hubClientScenarios, runHubClientScenario } from '../conformance/runClientConformance';
import type { ScenarioResult } from '../conformance/runConformance';

/**
 * The conformance suite's client scenarios with the hub as the client (see hubAsClient.ts): the
 * headless hub signs in to each scenario's server and serves its tool to an MCP client. One
 * scenario at a time, each with its own hub; about 3 s each.
 */
describe('MCP conformance: the hub as the client', function () {
  this.timeout(90_000);
  const outputRoot = mkdtempSync(join(tmpdir(), 'hub-conformance-client-'));
  const results: (ScenarioResult & { seconds: number })[] = [];
  after(() => console.log(`\n${formatTable(results)}\n`));

  for (const scenario of hubClientScenarios) {
    it(scenario, async function () {
      const result = await runHubClientScenario(scenario, outputRoot);
      results.push(result);
      assert.ok(result.passed, `${scenario}: ${result.detail ?? ''} (output in ${outputRoot})`);
    });
  }
});
