import type { ActivityRecord } from '../core/infra/activity';

/**
 * The records a view holds, oldest first, never more than `capacity` (the hub's ring buffer
 * holds 5,000 by default, so a view keeps as many). Records arrive in `seq` order from one hub;
 * one that does not follow the last (a repeat after a reconnect) is dropped.
 */
export class ActivityList {
  private items: ActivityRecord[] = [];

  constructor(readonly capacity = 5000) {}

  get records(): readonly ActivityRecord[] {
    return this.items;
  }

  /** Whether the record was kept (false: seen already). */
  add(record: ActivityRecord): boolean {
    const last = this.items[this.items.length - 1];
    if (last && record.seq <= last.seq) return false;
    this.items.push(record);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
    return true;
  }

  /** Forgets everything: a new hub (its `seq` starts again) or a new subscription. */
  clear(): void {
    this.items = [];
  }

  find(seq: number): ActivityRecord | undefined {
    // Sorted by seq: a binary search.
    let low = 0;
    let high = this.items.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const at = this.items[mid].seq;
      if (at === seq) return this.items[mid];
      if (at < seq) low = mid + 1;
      else high = mid - 1;
    }
    return undefined;
  }
}
