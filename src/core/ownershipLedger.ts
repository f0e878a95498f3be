/** Where an owned id came from. */
export type Ownership = { id: string; upstream: string; tool: string; at: number };

/**
 * The ids one logical session created, per upstream. Each session has its own ledger (there is no
 * global set anywhere), and it is dropped with the session, so nothing one session owns is ever
 * visible to or usable by another.
 */
export class OwnershipLedger {
  private readonly owned = new Map<string, Ownership>();

  private static key(upstream: string, id: string): string {
    return `${upstream}\u0000${id}`;
  }

  record(upstream: string, tool: string, ids: Iterable<string>, at = Date.now()): void {
    for (const id of ids) {
      const key = OwnershipLedger.key(upstream, id);
      if (!this.owned.has(key)) this.owned.set(key, { id, upstream, tool, at });
    }
  }

  owns(upstream: string, id: string): boolean {
    return this.owned.has(OwnershipLedger.key(upstream, id));
  }

  /** After a successful delete the id is gone upstream; forgetting it keeps the ledger honest. */
  forget(upstream: string, ids: Iterable<string>): void {
    for (const id of ids) this.owned.delete(OwnershipLedger.key(upstream, id));
  }

  get entries(): Ownership[] {
    return [...this.owned.values()];
  }

  get size(): number {
    return this.owned.size;
  }

  clear(): void {
    this.owned.clear();
  }
}
