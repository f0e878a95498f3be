import { canonicalIdentifier, containersOf, isContainerKind, type IdentifierKind } from './identifiers';

/** Where an owned identifier came from; `id` is spelled as first seen. */
export type Ownership = { id: string; kind: IdentifierKind; upstream: string; tool: string; at: number };

/** An identifier to record: a bare string is an opaque id (a GUID from a result). */
export type OwnedIdentifier = string | { kind: IdentifierKind; value: string };

/** What `record` did: the identifiers now owned, and those another session already owned (not recorded). */
export type RecordOutcome = { recorded: string[]; collisions: string[] };

function keyOf(upstream: string, kind: IdentifierKind, canonical: string): string {
  return `${upstream}\u0000${kind}\u0000${canonical}`;
}

function asIdentifier(identifier: OwnedIdentifier): { kind: IdentifierKind; value: string } {
  return typeof identifier === 'string' ? { kind: 'id', value: identifier } : identifier;
}

/**
 * Which ledger owns each identifier, hub-wide: an identifier has at most one owner per upstream,
 * so a session can never come to own what another session created. Owned paths and URIs are
 * also kept per upstream and kind, so "is anything of another session's inside this folder"
 * scans those alone, not every identifier. Only ledgers write to it.
 */
export class OwnershipIndex {
  private readonly owners = new Map<string, OwnershipLedger>();
  /** Owned paths and URIs per upstream and kind, for the look inside a folder. */
  private readonly containers = new Map<string, Map<string, OwnershipLedger>>();

  ownerOf(upstream: string, id: string, kind: IdentifierKind = 'id'): OwnershipLedger | undefined {
    return this.owners.get(keyOf(upstream, kind, canonicalIdentifier(kind, id)));
  }

  /**
   * Another ledger than `ledger` that owns this identifier, a folder it is in, or (for paths and
   * URIs) something inside it: touching it would touch that session's things.
   */
  foreignOwner(upstream: string, kind: IdentifierKind, value: string, ledger: OwnershipLedger): OwnershipLedger | undefined {
    return this.foreignOwnerOf(upstream, kind, canonicalIdentifier(kind, value), ledger);
  }

  /** @internal `foreignOwner` of an identifier already in canonical form. */
  foreignOwnerOf(upstream: string, kind: IdentifierKind, canonical: string, ledger: OwnershipLedger): OwnershipLedger | undefined {
    const exact = this.owners.get(keyOf(upstream, kind, canonical));
    if (exact && exact !== ledger) return exact;
    if (!isContainerKind(kind)) return undefined;
    for (const container of containersOf(kind, canonical)) {
      const owner = this.owners.get(keyOf(upstream, kind, container));
      if (owner && owner !== ledger) return owner;
    }
    const prefix = canonical.endsWith('/') ? canonical : `${canonical}/`;
    for (const [owned, owner] of this.containers.get(`${upstream}\u0000${kind}`) ?? []) {
      if (owner !== ledger && owned.startsWith(prefix)) return owner;
    }
    return undefined;
  }

  /** @internal for OwnershipLedger */
  claim(upstream: string, kind: IdentifierKind, canonical: string, ledger: OwnershipLedger): boolean {
    const key = keyOf(upstream, kind, canonical);
    const owner = this.owners.get(key);
    if (owner && owner !== ledger) return false;
    this.owners.set(key, ledger);
    if (isContainerKind(kind)) {
      const where = `${upstream}\u0000${kind}`;
      const byPath = this.containers.get(where) ?? new Map<string, OwnershipLedger>();
      byPath.set(canonical, ledger);
      this.containers.set(where, byPath);
    }
    return true;
  }

  /** @internal for OwnershipLedger */
  release(upstream: string, kind: IdentifierKind, canonical: string, ledger: OwnershipLedger): void {
    const key = keyOf(upstream, kind, canonical);
    if (this.owners.get(key) !== ledger) return;
    this.owners.delete(key);
    const byPath = this.containers.get(`${upstream}\u0000${kind}`);
    byPath?.delete(canonical);
    if (byPath?.size === 0) this.containers.delete(`${upstream}\u0000${kind}`);
  }

  get size(): number {
    return this.owners.size;
  }
}

/**
 * The identifiers one logical session created, per upstream: opaque ids, names, paths and URIs.
 * Each session has its own ledger; the shared index only says who owns what, so one session's
 * identifiers are never usable by another. Identifiers are compared in canonical form (see
 * `canonicalIdentifier`), and owning a path or URI covers what is inside it. Dropped with the
 * session.
 */
export class OwnershipLedger {
  private readonly owned = new Map<string, Ownership>();

  constructor(private readonly index: OwnershipIndex = new OwnershipIndex()) {}

  record(upstream: string, tool: string, identifiers: Iterable<OwnedIdentifier>, at = Date.now()): RecordOutcome {
    const outcome: RecordOutcome = { recorded: [], collisions: [] };
    for (const identifier of identifiers) {
      const { kind, value } = asIdentifier(identifier);
      const canonical = canonicalIdentifier(kind, value);
      const key = keyOf(upstream, kind, canonical);
      // Already owned, or inside a folder this session owns: nothing new to record.
      if (this.ownsCanonical(upstream, kind, canonical)) continue;
      if (this.index.foreignOwnerOf(upstream, kind, canonical, this) || !this.index.claim(upstream, kind, canonical, this)) {
        outcome.collisions.push(value);
        continue;
      }
      this.owned.set(key, { id: value, kind, upstream, tool, at });
      outcome.recorded.push(value);
    }
    return outcome;
  }

  /** Whether this session owns the identifier, or (for a path or URI) a folder it is in. */
  owns(upstream: string, id: string, kind: IdentifierKind = 'id'): boolean {
    return this.ownsCanonical(upstream, kind, canonicalIdentifier(kind, id));
  }

  private ownsCanonical(upstream: string, kind: IdentifierKind, canonical: string): boolean {
    if (this.owned.has(keyOf(upstream, kind, canonical))) return true;
    if (!isContainerKind(kind)) return false;
    return containersOf(kind, canonical).some((container) => this.owned.has(keyOf(upstream, kind, container)));
  }

  /** Whether another session owns this identifier, a folder it is in, or something inside it. */
  foreignOwner(upstream: string, kind: IdentifierKind, value: string): boolean {
    return this.index.foreignOwner(upstream, kind, value, this) !== undefined;
  }

  get entries(): Ownership[] {
    return [...this.owned.values()];
  }

  get size(): number {
    return this.owned.size;
  }

  clear(): void {
    for (const { upstream, kind, id } of this.owned.values()) this.index.release(upstream, kind, canonicalIdentifier(kind, id), this);
    this.owned.clear();
  }
}
