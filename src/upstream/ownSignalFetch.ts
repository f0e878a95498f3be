import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/**
 * A `fetch` for the SDK's HTTP client transports that gives every request its own AbortSignal.
 *
 * The SDK passes one long-lived signal (its transport's AbortController) to every POST. Each
 * fetch adds an abort listener to that signal and they are only released when the request is
 * garbage-collected, so thousands pile up after a few thousand calls. Here the shared signal
 * gets a single listener per transport, which aborts whatever requests are still in flight.
 */
export function createOwnSignalFetch(base: FetchLike = fetch): FetchLike {
  const inFlight = new Set<AbortController>();
  const watched = new WeakSet<AbortSignal>();

  return async (url, init) => {
    const shared = init?.signal;
    if (!shared) return base(url, init);
    if (shared.aborted) throw shared.reason ?? new DOMException('aborted', 'AbortError');
    if (!watched.has(shared)) {
      watched.add(shared);
      shared.addEventListener('abort', () => {
        for (const controller of inFlight) controller.abort(shared.reason);
        inFlight.clear();
      }, { once: true });
    }

    const own = new AbortController();
    inFlight.add(own);
    let response: Response;
    try {
      response = await base(url, { ...init, signal: own.signal });
    } catch (error) {
      inFlight.delete(own);
      throw error;
    }
    const isStream = response.headers.get('content-type')?.includes('text/event-stream') ?? false;
    if (!isStream || !response.body) {
      // A JSON body is read at once; the request no longer needs to be abortable by close().
      inFlight.delete(own);
      return response;
    }
    // A stream stays abortable until it ends, then it is forgotten.
    const release = () => {
      inFlight.delete(own);
    };
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({ flush: release }),
    );
    own.signal.addEventListener('abort', release, { once: true });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
