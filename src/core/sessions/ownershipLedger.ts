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

/**
 * One change to who owns what, as a store keeps it: replaying a store's records in order gives
 * the index back, with every ledger that had not ended made a tombstone (its session is gone).
 */
export type OwnershipRecord =
  | { type: 'claim'; session: string; upstream: string; kind: IdentifierKind; canonical: string; value: string; tool: string; at: number }
  | { type: 'forget'; session: string; upstream: string; kind: IdentifierKind; canonical: string }
  | { type: 'end'; session: string; at: number; reason: string }
  | { type: 'revive'; session: string };

/**
 * Where the index writes each change before it takes effect: a change a store could not keep
 * throws, and the index is left as it was. `problem` says why safe mode cannot trust the store
 * (unreadable, unwritable); every call it must judge is then refused with that reason.
 */
export interface OwnershipStore {
  append(record: OwnershipRecord): void;
  readonly problem: string | undefined;
  /** Where it keeps what it keeps, for messages and the admin state. */
  readonly description: string;
}

/** Who owns something, as a store shared by several hubs says: a session id, and its ending if it ended. */
export type RemoteOwner = { session: string; ending?: Ending };

/**
 * Ownership kept in a store that several hub processes share (Redis): claims are decided there,
 * atomically, and every call safe mode judges is checked there as it leaves. The local index
 * still holds this process's sessions' ledgers, for its judgement and its views.
 */
export interface SharedOwnership {
  readonly description: string;
  /** Why the store cannot be used now (unreachable); every judged call is refused meanwhile. */
  readonly problem: string | undefined;
  /** The first owner other than `session` of any of the forms, a folder one is in, or something inside one. */
  foreignOwner(upstream: string, forms: readonly CanonicalForm[], session: string): Promise<RemoteOwner | undefined>;
  /** Makes the form `entry.session`'s unless another session owns it (or around it): then that owner. */
  claim(upstream: string, form: CanonicalForm, entry: { session: string; value: string; tool: string; at: number }): Promise<RemoteOwner | undefined>;
  forget(upstream: string, form: CanonicalForm, session: string): Promise<void>;
  end(session: string, ending: Ending): Promise<void>;
  revive(session: string): Promise<void>;
  releaseSession(session: string): Promise<number>;
  releaseOne(upstream: string, form: CanonicalForm): Promise<number>;
  releaseAllEnded(): Promise<number>;
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

  constructor(
    private readonly store?: OwnershipStore,
    /** Set when several hubs share ownership: it decides, this index mirrors this process's part. */
    readonly shared?: SharedOwnership,
  ) {}

  /** Why safe mode cannot trust what the index says (its store is unreadable, unwritable or unreachable), if so. */
  get problem(): string | undefined {
    return this.shared?.problem ?? this.store?.problem;
  }

  get storeDescription(): string {
    return this.shared?.description ?? this.store?.description ?? 'memory only';
  }

  /** @internal for OwnershipLedger: written before the change is made; throws if the store cannot keep it. */
  persist(record: OwnershipRecord): void {
    this.store?.append(record);
  }

  /**
   * Rebuilds the index from a store's records (before any session starts). A ledger that had not
   * ended belonged to a session of the process that wrote them: it is a tombstone now, until a
   * session with its id comes back.
   */
  restore(records: Iterable<OwnershipRecord>, now: number): void {
    const ledgers = new Map<string, OwnershipLedger>();
    const ledgerOf = (session: string) => {
      let ledger = ledgers.get(session);
      if (!ledger) ledgers.set(session, (ledger = new OwnershipLedger(this, session)));
      return ledger;
    };
    for (const record of records) ledgerOf(record.session).replay(record);
    for (const ledger of ledgers.values()) {
      if (!ledger.ending) ledger.end({ at: now, reason: 'the hub restarted' });
      else this.entomb(ledger);
    }
  }

  /** The ledger for a session starting now: its own tombstone taken up again, or a new one. */
  ledgerFor(sessionId: string): OwnershipLedger {
    const tombstone = this.ended.get(sessionId);
    if (!tombstone) return new OwnershipLedger(this, sessionId);
    tombstone.revive();
    this.ended.delete(sessionId);
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

  /** What the index holds now, as records a store can restore it from (compaction). */
  records(): OwnershipRecord[] {
    const ledgers = new Set([...this.owners.values(), ...this.ended.values()]);
    return [...ledgers].flatMap((ledger) => ledger.records());
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

  /** The store several hubs share, if they do. */
  get shared(): SharedOwnership | undefined {
    return this.index.shared;
  }

  /** Why the store behind the ledger cannot be trusted, if it cannot. */
  get storeProblem(): string | undefined {
    return this.index.problem;
  }

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
      const { kind, canonical, value } = identifier;
      try {
        // Durable before anyone is told: a crash after a create's result cannot leave it unowned.
        this.index.persist({ type: 'claim', session: this.sessionId, upstream, kind, canonical, value, tool, at });
      } catch (error) {
        this.index.release(upstream, identifier, this);
        throw error;
      }
      this.owned.set(keyOf(upstream, kind, canonical), { id: value, kind, canonical, upstream, tool, at });
      outcome.recorded.push(value);
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
    if (!this.owned.has(key)) return false;
    this.index.persist({ type: 'forget', session: this.sessionId, upstream, kind: form.kind, canonical: form.canonical });
    this.owned.delete(key);
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
    // A store that cannot keep this is already refusing every judged call: the ending stands in memory.
    if (this.owned.size > 0) this.persistQuietly({ type: 'end', session: this.sessionId, at: ending.at, reason: ending.reason });
    void this.index.shared?.end(this.sessionId, ending).catch(() => undefined);
    this.endingValue = ending;
    this.index.entomb(this);
  }

  /** @internal for OwnershipIndex: the session came back. */
  revive(): void {
    if (this.owned.size > 0) this.persistQuietly({ type: 'revive', session: this.sessionId });
    void this.index.shared?.revive(this.sessionId).catch(() => undefined);
    this.endingValue = undefined;
  }

  /** Gives up everything (a human released the tombstone). */
  clear(): void {
    for (const entry of [...this.owned.values()]) this.persistQuietly({ type: 'forget', session: this.sessionId, upstream: entry.upstream, kind: entry.kind, canonical: entry.canonical });
    for (const entry of this.owned.values()) this.index.release(entry.upstream, entry, this);
    this.owned.clear();
  }

  private persistQuietly(record: OwnershipRecord): void {
    try {
      this.index.persist(record);
    } catch {
      // The store marks itself unusable, and safe mode refuses what it must judge until it is fixed.
    }
  }

  /** @internal for OwnershipIndex.records */
  records(): OwnershipRecord[] {
    const claims: OwnershipRecord[] = this.entries.map((entry) => ({
      type: 'claim',
      session: this.sessionId,
      upstream: entry.upstream,
      kind: entry.kind,
      canonical: entry.canonical,
      value: entry.id,
      tool: entry.tool,
      at: entry.at,
    }));
    return this.endingValue ? [...claims, { type: 'end', session: this.sessionId, at: this.endingValue.at, reason: this.endingValue.reason }] : claims;
  }

  /** @internal for OwnershipIndex.restore: applies a stored record without writing it again. */
  replay(record: OwnershipRecord): void {
    if (record.type === 'claim') {
      const form = { kind: record.kind, canonical: record.canonical };
      if (!this.index.claim(record.upstream, form, this)) return;
      this.owned.set(keyOf(record.upstream, record.kind, record.canonical), { id: record.value, kind: record.kind, canonical: record.canonical, upstream: record.upstream, tool: record.tool, at: record.at });
    } else if (record.type === 'forget') {
      const form = { kind: record.kind, canonical: record.canonical };
      if (this.owned.delete(keyOf(record.upstream, record.kind, record.canonical))) this.index.release(record.upstream, form, this);
    } else if (record.type === 'end') {
      this.endingValue = { at: record.at, reason: record.reason };
    } else {
      this.endingValue = undefined;
    }
  }
}
