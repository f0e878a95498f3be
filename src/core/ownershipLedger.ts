import { canonicalId } from './identifiers';

/** Where an owned id came from; `id` is spelled as the upstream first sent it. */
export type Ownership = { id: string; upstream: string; tool: string; at: number };

/** What `record` did: the ids now owned, and those another session already owned (not recorded). */
export type RecordOutcome = { recorded: string[]; collisions: string[] };

function keyOf(upstream: string, id: string): string {
  return `${upstream}\u0000${canonicalId(id)}`;
}

/**
 * Which ledger owns each id, hub-wide: an id has at most one owner per upstream, so a session can
 * never come to own what another session created. Only ledgers write to it.
 */
export class OwnershipIndex {
  private readonly owners = new Map<string, OwnershipLedger>();

  ownerOf(upstream: string, id: string): OwnershipLedger | undefined {
    return this.owners.get(keyOf(upstream, id));
  }

  /** @internal for OwnershipLedger */
  claim(key: string, ledger: OwnershipLedger): boolean {
    const owner = this.owners.get(key);
    if (owner && owner !== ledger) return false;
    this.owners.set(key, ledger);
    return true;
  }

  /** @internal for OwnershipLedger */
  release(key: string, ledger: OwnershipLedger): void {
    if (this.owners.get(key) === ledger) this.owners.delete(key);
  }

  get size(): number {
    return this.owners.size;
  }
}

/**
 * The ids one logical session created, per upstream. Each session has its own ledger; the shared
 * index only says who owns what, so one session's ids are never usable by another. Ids are
 * compared in canonical form (see `canonicalId`), so a respelled id is the same id. Dropped with
 * the session.
 */
export class OwnershipLedger {
  private readonly owned = new Map<string, Ownership>();

  constructor(private readonly index: OwnershipIndex = new OwnershipIndex()) {}

  record(upstream: string, tool: string, ids: Iterable<string>, at = Date.now()): RecordOutcome {
    const outcome: RecordOutcome = { recorded: [], collisions: [] };
    for (const id of ids) {
      const key = keyOf(upstream, id);
      if (this.owned.has(key)) continue;
      if (!this.index.claim(key, this)) {
        outcome.collisions.push(id);
        continue;
      }
      this.owned.set(key, { id, upstream, tool, at });
      outcome.recorded.push(id);
    }
    return outcome;
  }

  owns(upstream: string, id: string): boolean {
    return this.owned.has(keyOf(upstream, id));
  }

  get entries(): Ownership[] {
    return [...this.owned.values()];
  }

  get size(): number {
    return this.owned.size;
  }

  clear(): void {
    for (const key of this.owned.keys()) this.index.release(key, this);
    this.owned.clear();
  }
}
