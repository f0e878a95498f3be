import { canonicalId, containersOf, isContainerKind, type CanonicalForm, type IdentifierKind } from './spelling';

/** Where an owned identifier came from; `id` is spelled as first seen, `canonical` as compared. */
export type Ownership = { id: string; kind: IdentifierKind; canonical: string; upstream: string; tool: string; at: number };

/** An identifier to record: its display spelling and the one form it is owned in. */
export type OwnedIdentifier = { value: string } & CanonicalForm;

/** An opaque id read from a result (a GUID, a PID), to record. */
export function opaqueId(value: string): OwnedIdentifier {
  return { value, kind: 'id', canonical: canonicalId(value) };
}

/** What `record` did: the identifiers now owned, and those another session already owned (not recorded). */
export type RecordOutcome = { recorded: string[]; collisions: string[] };

/** Why a ledger no longer speaks for a live session. */
export type Ending = { at: number; reason: string };

function keyOf(upstream: string, kind: IdentifierKind, canonical: string): string {
  return `${upstream}\u0000${kind}\u0000${canonical}`;
}

/** Which tombstones to release: one session's, one identifier (whoever's tombstone holds it), or all. */
export type TombstoneRelease = { session: string } | { upstream: string; kind: IdentifierKind; canonical: string } | { all: true };

/**
 * Which ledger owns each identifier, hub-wide: an identifier has at most one owner per upstream,
 * so a session can never come to own what another session created. Owned paths and URIs are
 * also kept per upstream and kind, so "is anything of another session's inside this folder"
 * scans those alone, not every identifier. Only ledgers write to it.
 *
 * A session's ledger outlives the session as a tombstone: what it owned stays owned, refused to
 * everyone, until a human releases it (or `retainEnded` does), or a session with the same id
 * (the same `X-MCP-Hub-Session` key, the same chat under it) comes back and takes it up again.
 */
export class OwnershipIndex {
  private readonly owners = new Map<string, OwnershipLedger>();
  /** Owned paths and URIs per upstream and kind, for the look inside a folder. */
  private readonly containers = new Map<string, Map<string, OwnershipLedger>>();
  /** Ledgers of ended sessions that still own something, by session id. */
  private readonly ended = new Map<string, OwnershipLedger>();

  /** The ledger for a session starting now: its own tombstone taken up again, or a new one. */
  ledgerFor(sessionId: string): OwnershipLedger {
    const tombstone = this.ended.get(sessionId);
    if (!tombstone) return new OwnershipLedger(this, sessionId);
    this.ended.delete(sessionId);
    tombstone.revive();
    return tombstone;
  }

  /** Another ledger than `ledger` that owns this form, a folder it is in, or (for paths and URIs) something inside it. */
  foreignOwnerOf(upstream: string, form: CanonicalForm, ledger: OwnershipLedger): OwnershipLedger | undefined {
    const { kind, canonical } = form;
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

  /** @internal for OwnershipLedger: true when `ledger` now owns the form. */
  claim(upstream: string, form: CanonicalForm, ledger: OwnershipLedger): boolean {
    const key = keyOf(upstream, form.kind, form.canonical);
    const owner = this.owners.get(key);
    if (owner && owner !== ledger) return false;
    this.owners.set(key, ledger);
    if (isContainerKind(form.kind)) {
      const where = `${upstream}\u0000${form.kind}`;
      const byPath = this.containers.get(where) ?? new Map<string, OwnershipLedger>();
      byPath.set(form.canonical, ledger);
      this.containers.set(where, byPath);
    }
    return true;
  }

  /** @internal for OwnershipLedger */
  release(upstream: string, form: CanonicalForm, ledger: OwnershipLedger): void {
    const key = keyOf(upstream, form.kind, form.canonical);
    if (this.owners.get(key) !== ledger) return;
    this.owners.delete(key);
    const byPath = this.containers.get(`${upstream}\u0000${form.kind}`);
    byPath?.delete(form.canonical);
    if (byPath?.size === 0) this.containers.delete(`${upstream}\u0000${form.kind}`);
  }

  /** @internal for OwnershipLedger: an ended session's ledger that still owns something. */
  entomb(ledger: OwnershipLedger): void {
    if (ledger.size > 0) this.ended.set(ledger.sessionId, ledger);
  }

  /** Ledgers of ended sessions that still own something, longest ended first. */
  get tombstones(): OwnershipLedger[] {
    return [...this.ended.values()];
  }

  /** Frees what tombstones own (a human's decision); returns how many identifiers were freed. */
  releaseTombstones(which: TombstoneRelease): number {
    let freed = 0;
    const drop = (ledger: OwnershipLedger) => {
      freed += ledger.size;
      ledger.clear();
      this.ended.delete(ledger.sessionId);
    };
    if ('all' in which) for (const ledger of [...this.ended.values()]) drop(ledger);
    else if ('session' in which) {
      const ledger = this.ended.get(which.session);
      if (ledger) drop(ledger);
    } else {
      const owner = this.owners.get(keyOf(which.upstream, which.kind, which.canonical));
      if (owner?.ending && owner.forget(which.upstream, which)) {
        freed = 1;
        if (owner.size === 0) this.ended.delete(owner.sessionId);
      }
    }
    return freed;
  }

  /** Releases tombstones of sessions that ended before `cutoff`; returns how many identifiers were freed. */
  releaseEndedBefore(cutoff: number): number {
    let freed = 0;
    for (const ledger of [...this.ended.values()]) {
      if ((ledger.ending?.at ?? Infinity) < cutoff) freed += this.releaseTombstones({ session: ledger.sessionId });
    }
    return freed;
  }

  /** Identifiers owned hub-wide, by live sessions and tombstones. */
  get size(): number {
    return this.owners.size;
  }
}

/**
 * The identifiers one logical session created, per upstream: opaque ids, names, paths and URIs,
 * each in the one canonical form the gate put it in. Each session has its own ledger; the shared
 * index only says who owns what, so one session's identifiers are never usable by another.
 * Owning a path or URI covers what is inside it. When the session ends the ledger becomes a
 * tombstone (see `OwnershipIndex`).
 */
export class OwnershipLedger {
  private readonly owned = new Map<string, Ownership>();
  private endingValue?: Ending;

  constructor(
    private readonly index: OwnershipIndex = new OwnershipIndex(),
    /** The session this ledger speaks for, while it lives and after. */
    readonly sessionId: string = 'anonymous',
  ) {}

  /** Set once the session ended: the ledger is then a tombstone. */
  get ending(): Ending | undefined {
    return this.endingValue;
  }

  /** Records identifiers as this session's, skipping those another session owns. */
  record(upstream: string, tool: string, identifiers: Iterable<OwnedIdentifier>, at = Date.now()): RecordOutcome {
    const outcome: RecordOutcome = { recorded: [], collisions: [] };
    for (const identifier of identifiers) {
      // Already owned, or inside a folder this session owns: nothing new to record.
      if (this.owns(upstream, identifier)) continue;
      if (this.index.foreignOwnerOf(upstream, identifier, this) || !this.index.claim(upstream, identifier, this)) {
        outcome.collisions.push(identifier.value);
        continue;
      }
      this.owned.set(keyOf(upstream, identifier.kind, identifier.canonical), {
        id: identifier.value,
        kind: identifier.kind,
        canonical: identifier.canonical,
        upstream,
        tool,
        at,
      });
      outcome.recorded.push(identifier.value);
    }
    return outcome;
  }

  /** Whether this session owns the form, or (for a path or URI) a folder it is in. */
  owns(upstream: string, form: CanonicalForm): boolean {
    if (this.owned.has(keyOf(upstream, form.kind, form.canonical))) return true;
    if (!isContainerKind(form.kind)) return false;
    return containersOf(form.kind, form.canonical).some((container) => this.owned.has(keyOf(upstream, form.kind, container)));
  }

  /** Another session's (or a tombstone's) ledger that owns this form, a folder it is in, or something inside it. */
  foreignOwner(upstream: string, form: CanonicalForm): OwnershipLedger | undefined {
    return this.index.foreignOwnerOf(upstream, form, this);
  }

  /** Gives up one identifier this ledger owns exactly; true if it did. */
  forget(upstream: string, form: CanonicalForm): boolean {
    const key = keyOf(upstream, form.kind, form.canonical);
    if (!this.owned.delete(key)) return false;
    this.index.release(upstream, form, this);
    return true;
  }

  get entries(): Ownership[] {
    return [...this.owned.values()];
  }

  get size(): number {
    return this.owned.size;
  }

  /** The session ended: what it owns stays owned, by this ledger as a tombstone. */
  end(ending: Ending): void {
    if (this.endingValue) return;
    this.endingValue = ending;
    this.index.entomb(this);
  }

  /** @internal for OwnershipIndex: the session came back. */
  revive(): void {
    this.endingValue = undefined;
  }

  clear(): void {
    for (const entry of this.owned.values()) this.index.release(entry.upstream, entry, this);
    this.owned.clear();
  }
}
