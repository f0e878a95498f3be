import type { Disposable } from './lifecycle';

/** A subscribable event, shaped like VS Code's `Event<T>` so core events plug into tree views directly. */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/**
 * Fires values to listeners. A listener that throws is reported to `onListenerError`
 * and does not stop the others: one broken view must not break the hub.
 */
export class Emitter<T> implements Disposable {
  private listeners = new Set<(value: T) => void>();

  constructor(private readonly onListenerError: (error: unknown) => void = () => undefined) {}

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
