import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';

/** Where the hub steps into a transport's traffic; each returns true when it has taken the message. */
export type TransportHooks = {
  /** A message that arrived from the other side, before the SDK's protocol layer reads it. */
  incoming?(message: JSONRPCMessage, extra?: MessageExtraInfo): boolean;
  /** A message the SDK's protocol layer is about to send. */
  outgoing?(message: JSONRPCMessage, options?: TransportSendOptions): boolean;
};

/**
 * An SDK transport behind named hooks of the hub's: it implements `Transport` and delegates
 * everything to the transport it wraps, which it owns from construction (it takes that
 * transport's callbacks, as the `Transport` contract gives them to whoever connects it). The SDK's
 * `Server` or `Client` connects to this object, never to the one inside, so nothing of the SDK
 * has a method replaced after construction.
 */
export class HookedTransport<T extends Transport = Transport> implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <M extends JSONRPCMessage>(message: M, extra?: MessageExtraInfo) => void;

  constructor(
    readonly inner: T,
    private readonly hooks: TransportHooks,
  ) {
    inner.onmessage = (message, extra) => this.deliver(message, extra);
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.hooks.outgoing?.(message, options)) return Promise.resolve();
    return this.inner.send(message, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion?.(version);
  }

  /**
   * Hands a message to whoever reads this transport, through the incoming hook, as if the other
   * side had sent it: an answer the hub read off the wire itself, or a cancellation it decided.
   */
  receive(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    this.deliver(message, extra);
  }

  private deliver(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    if (this.hooks.incoming?.(message, extra)) return;
    this.onmessage?.(message, extra);
  }
}
