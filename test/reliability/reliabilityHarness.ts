import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import fc from 'fast-check';
import { connectClient, firstText, waitFor, type TestHub, type TransportName } from '../support/hubHarness';
import { descendantsOf, processState } from '../support/processes';

/** One seed for every property of the suite, printed with each; RELIABILITY_SEED replays another. */
export const seed = Number(process.env.RELIABILITY_SEED ?? 20_260_107);

/** Longest a single request of a generated case may take: past it the case fails as a hang. */
export const requestTimeoutMs = 5_000;

/**
 * Runs a property over `numRuns` generated cases with the suite's seed, and prints how many ran.
 * It stops at the first failure without shrinking (each case is real HTTP traffic, so shrinking
 * could take minutes); fast-check prints that counterexample, and RELIABILITY_SHRINK=1 shrinks it.
 * RELIABILITY_SCALE=10 runs ten times as many cases, for a long local hunt.
 */
export async function checkProperty<T>(name: string, arbitrary: fc.Arbitrary<T>, numRuns: number, predicate: (value: T) => Promise<void>): Promise<void> {
  let ran = 0;
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      ran++;
      await predicate(value);
    }),
    { seed, numRuns: Math.max(1, Math.round(numRuns * Number(process.env.RELIABILITY_SCALE ?? 1))), endOnFailure: !process.env.RELIABILITY_SHRINK },
  );
  console.log(`      ${name}: ${ran} generated cases, seed ${seed}, ${Date.now() - started} ms`);
}

/** A value for an assertion message: JSON, long strings and the whole cut short. */
export function short(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v)) ?? String(value);
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

type Bystander = { client: Client; transport: TransportName; itemId: string; tools: string[] };

/**
 * Sessions opened before a batch of bad traffic, one per transport, on a virtual server of the
 * demo upstream: each owns an item (safe mode) and knows its tools. After the batch each must
 * still see the same tools, still own its item, and still be refused the other's.
 */
export class Bystanders {
  private constructor(private readonly members: Bystander[]) {}

  static async open(hubUrl: string, virtualServer: string): Promise<Bystanders> {
    const members: Bystander[] = [];
    for (const transport of ['streamable-http', 'sse'] as const) {
      const client = await connectClient(hubUrl, { virtualServer, transport, name: `bystander-${transport}` });
      const created = await client.callTool({ name: 'create_item', arguments: { title: `owned by the ${transport} bystander` } });
      const itemId = (created.structuredContent as { id: string }).id;
      const tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
      members.push({ client, transport, itemId, tools });
    }
    return new Bystanders(members);
  }

  async assertUnaffected(hub: TestHub): Promise<void> {
    const [first, second] = this.members;
    for (const [me, other] of [
      [first, second],
      [second, first],
    ]) {
      const where = `bystander on ${me.transport}`;
      assert.deepEqual((await me.client.listTools()).tools.map((tool) => tool.name).sort(), me.tools, `${where}: its tools changed`);
      const mine = await me.client.callTool({ name: 'update_item', arguments: { id: me.itemId, notes: `still ${me.transport}'s` } });
      assert.equal(mine.isError, undefined, `${where}: cannot update its own item: ${firstText(mine)}`);
      const theirs = await me.client.callTool({ name: 'delete_item', arguments: { id: other.itemId } });
      assert.match(firstText(theirs), /^Safe mode refused 'delete_item'/, `${where}: was not refused the other bystander's item`);
      const owned = hub.hub.state().sessions.find((session) => session.ownedIds.some((owned) => owned.id === me.itemId));
      assert.deepEqual(owned?.ownedIds.map((entry) => entry.id), [me.itemId], `${where}: its ledger changed`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((member) => member.client.close().catch(() => undefined)));
  }
}

/** This process's descendants now, to compare with what is left after a hub closes. */
export function descendantsNow(): Set<number> {
  return new Set(descendantsOf(process.pid));
}

/** Waits until no process started since `before` is alive or left a zombie nobody reaped; fails naming them. */
export async function assertNoProcessLeftBehind(before: Set<number>, what: string, timeoutMs = 8_000): Promise<void> {
  const left = () => descendantsOf(process.pid).filter((pid) => !before.has(pid));
  await waitFor(() => left().length === 0, timeoutMs, `${what}: no process left behind`).catch(() => undefined);
  assert.deepEqual(left().map((pid) => `${pid} (${processState(pid)})`), [], `${what}: processes left behind`);
}
