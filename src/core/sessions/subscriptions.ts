/**
 * Resource subscriptions, reference-counted per upstream and URI: the upstream hears one
 * `resources/subscribe` when the first subscriber arrives and one `unsubscribe` when the last
 * leaves, and an update reaches exactly the subscribers of that upstream's URI. `U` identifies
 * an upstream instance (a per-session instance is its own key).
 */
export class SubscriptionTable<U> {
  private readonly byUpstream = new Map<U, Map<string, Set<string>>>();

  /** Adds a subscriber; true when it is the first for this upstream and URI. */
  add(upstream: U, uri: string, subscriber: string): boolean {
    let uris = this.byUpstream.get(upstream);
    if (!uris) this.byUpstream.set(upstream, (uris = new Map()));
    let subscribers = uris.get(uri);
    if (!subscribers) uris.set(uri, (subscribers = new Set()));
    const first = subscribers.size === 0;
    subscribers.add(subscriber);
    return first;
  }

  /** Removes a subscriber; true when it was the last one for this upstream and URI. */
  remove(upstream: U, uri: string, subscriber: string): boolean {
    const uris = this.byUpstream.get(upstream);
    const subscribers = uris?.get(uri);
    if (!uris || !subscribers?.delete(subscriber)) return false;
    if (subscribers.size > 0) return false;
    uris.delete(uri);
    if (uris.size === 0) this.byUpstream.delete(upstream);
    return true;
  }

  /** Removes a subscriber everywhere; returns the (upstream, URI) pairs left with no subscriber. */
  removeSubscriber(subscriber: string): { upstream: U; uri: string }[] {
    const emptied: { upstream: U; uri: string }[] = [];
    for (const [upstream, uris] of [...this.byUpstream]) {
      for (const uri of [...uris.keys()]) if (this.remove(upstream, uri, subscriber)) emptied.push({ upstream, uri });
    }
    return emptied;
  }

  /** Forgets an upstream instance that has gone away, with its subscribers. */
  removeUpstream(upstream: U): void {
    this.byUpstream.delete(upstream);
  }

  subscribers(upstream: U, uri: string): string[] {
    return [...(this.byUpstream.get(upstream)?.get(uri) ?? [])];
  }
}
