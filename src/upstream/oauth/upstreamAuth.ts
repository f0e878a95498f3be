import { auth, extractWWWAuthenticateParams, UnauthorizedError, type OAuthClientProvider, type OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { OAuthSettings } from '../../core/config/config';
import { Emitter } from '../../core/infra/events';
import type { Disposable } from '../../core/infra/lifecycle';
import { errorMessage, type Logger } from '../../core/infra/logger';
import type { CallbackResult, OAuthCallbackServer } from './callbackServer';
import type { SecretStore } from './secretStore';

/** Whether the upstream can be called, or why the user must sign in and where. */
export type SignInState = { signedIn: true } | { signedIn: false; reason: string; authorizationUrl?: string };

/** Tokens as kept: what the server issued, stamped by the SDK with the issuer, and when they expire. */
type StoredTokens = { tokens: OAuthTokens; expiresAt?: number };

/** A token with less than this left (or half its life, if shorter) is refreshed before it is used. */
const refreshMarginMs = 60_000;

export type UpstreamAuthOptions = {
  /** The upstream's id, for messages and the callback page. */
  upstream: string;
  /** The upstream's URL: the protected resource. */
  url: string;
  settings?: OAuthSettings;
  store: SecretStore;
  callbacks: OAuthCallbackServer;
  logger: Logger;
  /** The `fetch` discovery, registration and token requests use. */
  fetch?: FetchLike;
};

/**
 * The hub as an OAuth client of one remote upstream, on the SDK's `auth()`: discovery (RFC 9728,
 * RFC 8414), the client identity (a configured pre-registered client, else a client metadata
 * document where the server supports it, else dynamic registration), PKCE, the `resource`
 * parameter and issuer-bound tokens are the SDK's. What this adds: the loopback redirect with a
 * one-time `state` per attempt, tokens kept per (issuer, client, resource) in a `SecretStore`,
 * refreshing before expiry and after a 401 one at a time, and a sign-in state the hub shows.
 * Every connection to the upstream (per-session instances too) shares one of these.
 */
export class UpstreamAuth implements OAuthClientProvider, Disposable {
  private loaded?: Promise<void>;
  private redirect?: string;
  private discovery?: OAuthDiscoveryState;
  private registration?: OAuthClientInformationMixed;
  private current?: StoredTokens;
  /** The attempt whose `state` the SDK just asked for; its verifier is saved next. */
  private latestAttempt?: { verifier?: string };
  /** The attempt whose code is being exchanged. */
  private finishing?: { verifier?: string };
  private finishChain: Promise<unknown> = Promise.resolve();
  private refreshing?: Promise<boolean>;
  private signingIn?: Promise<string | undefined>;
  /** What the upstream last said in `WWW-Authenticate` on a 401 or 403: where its metadata is, which scope it wants. */
  private challenge: { resourceMetadataUrl?: URL; scope?: string } = {};
  /** Why the next sign-in is needed, when something other than "not signed in yet" says so. */
  private pendingReason?: string;
  private stateValue: SignInState = { signedIn: true };
  private readonly emitter: Emitter<SignInState>;
  /** Fires when the sign-in state changes: the user must sign in (with the URL), or signed in. */
  readonly onDidChange;

  constructor(private readonly options: UpstreamAuthOptions) {
    this.emitter = new Emitter<SignInState>((error) => options.logger.error(`sign-in listener failed: ${errorMessage(error)}`));
    this.onDidChange = this.emitter.event;
  }

  get upstream(): string {
    return this.options.upstream;
  }

  /** Whether discovery found protected resource or authorization server metadata: the upstream signs in with OAuth. */
  get offersOAuth(): boolean {
    return this.discovery?.resourceMetadata !== undefined || this.discovery?.authorizationServerMetadata !== undefined;
  }

  get signInState(): SignInState {
    return this.stateValue;
  }

  /** Loads what the store holds and starts the redirect listener; call before a transport uses this. */
  prepare(): Promise<void> {
    this.loaded ??= this.load().catch((error: unknown) => {
      this.loaded = undefined;
      throw error;
    });
    return this.loaded;
  }

  private async load(): Promise<void> {
    this.redirect = await this.options.callbacks.start(this.options.settings?.callbackPort);
    this.discovery = await this.readJson<OAuthDiscoveryState>(this.discoveryName());
    this.registration = await this.readJson<OAuthClientInformationMixed>(this.registrationName());
    this.current = await this.readJson<StoredTokens>(this.tokensName());
  }

  // --- OAuthClientProvider ---

  get redirectUrl(): string {
    if (!this.redirect) throw new Error('UpstreamAuth.prepare() was not awaited');
    return this.redirect;
  }

  get clientMetadataUrl(): string | undefined {
    return this.options.settings?.clientMetadataUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    const settings = this.options.settings;
    return {
      client_name: 'MCP Session Hub',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: settings?.tokenEndpointAuthMethod ?? 'none',
      ...(settings?.scopes?.length ? { scope: settings.scopes.join(' ') } : {}),
    };
  }

  state(): string {
    const attempt: { verifier?: string } = {};
    this.latestAttempt = attempt;
    return this.options.callbacks.newAttempt(this.options.upstream, (result) => this.finish(attempt, result));
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    const settings = this.options.settings;
    if (settings?.clientId) {
      return {
        client_id: settings.clientId,
        ...(settings.clientSecret ? { client_secret: settings.clientSecret } : {}),
        ...(settings.tokenEndpointAuthMethod ? { token_endpoint_auth_method: settings.tokenEndpointAuthMethod } : {}),
      };
    }
    return this.registration;
  }

  async saveClientInformation(information: OAuthClientInformationMixed): Promise<void> {
    if (this.options.settings?.clientId) return; // configured: nothing to keep
    this.registration = information;
    await this.writeJson(this.registrationName(), information);
  }

  tokens(): OAuthTokens | undefined {
    return this.current?.tokens;
  }

  async saveTokens(tokens: OAuthTokens): Promise<void> {
    const stored: StoredTokens = { tokens, ...(tokens.expires_in ? { expiresAt: Date.now() + tokens.expires_in * 1000 } : {}) };
    this.current = stored;
    await this.writeJson(this.tokensName(), stored);
  }

  redirectToAuthorization(authorizationUrl: URL): void {
    const reason = this.pendingReason ?? `not signed in to ${this.options.upstream}`;
    this.setState({ signedIn: false, reason, authorizationUrl: authorizationUrl.href });
  }

  saveCodeVerifier(codeVerifier: string): void {
    if (this.latestAttempt) this.latestAttempt.verifier = codeVerifier;
  }

  codeVerifier(): string {
    const verifier = this.finishing?.verifier;
    if (!verifier) throw new Error('no sign-in attempt is being finished');
    return verifier;
  }

  async invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): Promise<void> {
    if (scope === 'all' || scope === 'tokens') {
      // The SDK asks this when the token endpoint refused the refresh token (invalid_grant).
      if (this.current) this.pendingReason = 'the authorization server refused the stored sign-in (invalid_grant); sign in again';
      await this.options.store.delete(this.tokensName());
      this.current = undefined;
    }
    if (scope === 'all' || scope === 'client') {
      await this.options.store.delete(this.registrationName());
      this.registration = undefined;
    }
    if (scope === 'all' || scope === 'discovery') {
      await this.options.store.delete(this.discoveryName());
      this.discovery = undefined;
    }
  }

  async saveDiscoveryState(state: OAuthDiscoveryState): Promise<void> {
    const before = this.discovery?.authorizationServerUrl;
    this.discovery = state;
    await this.writeJson(this.discoveryName(), state);
    if (before !== state.authorizationServerUrl) {
      // Another issuer: what was kept for the one before is not this one's.
      this.registration = await this.readJson<OAuthClientInformationMixed>(this.registrationName());
      this.current = await this.readJson<StoredTokens>(this.tokensName());
    }
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.discovery;
  }

  // --- What the hub uses ---

  /** A `fetch` for the upstream's SDK transport: fresh tokens before a request is sent, one refresh after a 401. */
  wrapFetch(inner: FetchLike): FetchLike {
    return async (url, init) => {
      const headers = new Headers(init?.headers);
      const sent = headers.get('authorization');
      const ours = sent !== null && this.current !== undefined && sent === `Bearer ${this.current.tokens.access_token}`;
      if (!ours) return this.watch(await inner(url, init));
      const fresh = await this.accessToken();
      if (fresh) headers.set('authorization', `Bearer ${fresh}`);
      const response = await this.watch(await inner(url, { ...init, headers }));
      if (response.status !== 401 || !fresh) return response;
      const again = await this.refreshAfterUnauthorized(fresh);
      if (!again) return response;
      headers.set('authorization', `Bearer ${again}`);
      await response.body?.cancel().catch(() => undefined);
      return this.watch(await inner(url, { ...init, headers }));
    };
  }

  private unauthorizedLine?: string;

  /**
   * What the upstream's last 401 said (`HTTP 401: ` and its body's first line), taken once: the
   * error to show when it offers no OAuth sign-in the hub can find.
   */
  takeLastUnauthorized(): string | undefined {
    const line = this.unauthorizedLine;
    this.unauthorizedLine = undefined;
    return line;
  }

  /** Keeps what a 401 or 403 says in `WWW-Authenticate`, for a later sign-in of our own. */
  private async watch(response: Response): Promise<Response> {
    if (response.status !== 401 && response.status !== 403) return response;
    this.noteChallenge(response.headers.get('www-authenticate'));
    if (response.status === 401 && !new URL(response.url || this.options.url).pathname.startsWith('/.well-known/')) {
      const text = await response.clone().text().catch(() => '');
      const first = text.split('\n')[0].trim().slice(0, 200);
      this.unauthorizedLine = `HTTP 401${first ? `: ${first}` : ''}`;
    }
    return response;
  }

  noteChallenge(header: string | null | undefined): void {
    if (!header) return;
    const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(new Response(null, { headers: { 'www-authenticate': header } }));
    if (resourceMetadataUrl) this.challenge.resourceMetadataUrl = resourceMetadataUrl;
    if (scope) this.challenge.scope = scope;
  }

  /** The access token to send now, refreshed first when it is about to expire; undefined when signed out. */
  async accessToken(): Promise<string | undefined> {
    await this.prepare();
    if (this.refreshDue()) await this.refresh();
    return this.current?.tokens.access_token;
  }

  private refreshDue(): boolean {
    const stored = this.current;
    if (!stored?.expiresAt || !stored.tokens.refresh_token || !stored.tokens.expires_in) return false;
    const margin = Math.min(refreshMarginMs, (stored.tokens.expires_in * 1000) / 2);
    return Date.now() >= stored.expiresAt - margin;
  }

  /**
   * After `token` got a 401: refreshes, unless another request already did (then its token is
   * used). The new token, or undefined when there is none (the user must sign in).
   */
  async refreshAfterUnauthorized(token: string): Promise<string | undefined> {
    const now = this.current?.tokens.access_token;
    if (now && now !== token) return now;
    if (!this.current?.tokens.refresh_token) {
      await this.invalidateCredentials('tokens');
      void this.beginSignIn().catch(() => undefined);
      return undefined;
    }
    return (await this.refresh()) ? this.current?.tokens.access_token : undefined;
  }

  /** One refresh at a time: whoever asks while one runs waits for it. True when there is a new token. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.refreshOnce().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async refreshOnce(): Promise<boolean> {
    const before = this.current?.tokens.access_token;
    this.options.logger.info('refreshing the access token');
    try {
      // With a refresh token the SDK refreshes; when that is refused it starts a new sign-in.
      const result = await auth(this, { serverUrl: this.options.url, ...this.challenge, fetchFn: this.options.fetch });
      const renewed = result === 'AUTHORIZED' && this.current !== undefined && this.current.tokens.access_token !== before;
      if (renewed) this.options.logger.info('access token refreshed');
      return renewed;
    } catch (error) {
      this.signInNeeded(`refreshing the sign-in failed: ${describeAuthError(error)}`);
      return false;
    }
  }

  /** Step-up after a 403 `insufficient_scope`: asks for the scope the upstream named. The new token, or undefined (sign-in needed). */
  async stepUp(header: string): Promise<string | undefined> {
    this.noteChallenge(header);
    const before = this.current?.tokens.access_token;
    // A refresh keeps the scope the user granted: the step-up needs a new authorization.
    await this.invalidateCredentials('tokens');
    this.pendingReason = `the upstream needs more access (scope "${this.challenge.scope ?? ''}"); sign in again to grant it`;
    try {
      await auth(this, { serverUrl: this.options.url, ...this.challenge, fetchFn: this.options.fetch });
    } catch (error) {
      this.signInNeeded(`asking for more access failed: ${describeAuthError(error)}`);
    }
    const now = this.current?.tokens.access_token;
    return now && now !== before ? now : undefined;
  }

  /**
   * The authorization URL for the user to open, starting a sign-in when none is pending;
   * undefined when the stored tokens still work (nothing to do).
   */
  beginSignIn(): Promise<string | undefined> {
    this.signingIn ??= this.beginSignInOnce().finally(() => (this.signingIn = undefined));
    return this.signingIn;
  }

  private async beginSignInOnce(): Promise<string | undefined> {
    await this.prepare();
    if (!this.stateValue.signedIn && this.stateValue.authorizationUrl) return this.stateValue.authorizationUrl;
    // Signed in with tokens: nothing to start (a refresh, if one is due, happens on the next call).
    if (this.stateValue.signedIn && this.current) return undefined;
    const result = await auth(this, { serverUrl: this.options.url, ...this.challenge, fetchFn: this.options.fetch });
    if (result === 'AUTHORIZED') return undefined;
    return this.stateValue.signedIn ? undefined : this.stateValue.authorizationUrl;
  }

  /** Forgets the tokens and the registration of this upstream; it needs a new sign-in. */
  async signOut(): Promise<void> {
    await this.prepare();
    this.options.callbacks.forgetAttempts(this.options.upstream);
    await this.invalidateCredentials('all');
    this.pendingReason = 'signed out';
    this.options.logger.info('signed out: tokens and registration forgotten');
    this.setState({ signedIn: false, reason: 'signed out' });
  }

  /** Marks the upstream as needing sign-in (once: a repeat only updates the reason). */
  signInNeeded(reason: string): void {
    if (this.stateValue.signedIn || this.stateValue.reason !== reason) this.setState({ signedIn: false, reason, ...(this.stateValue.signedIn ? {} : { authorizationUrl: this.stateValue.authorizationUrl }) });
  }

  private finish(attempt: { verifier?: string }, result: CallbackResult): Promise<string> {
    const run = this.finishChain.then(() => this.finishNow(attempt, result));
    this.finishChain = run.catch(() => undefined);
    return run;
  }

  private async finishNow(attempt: { verifier?: string }, result: CallbackResult): Promise<string> {
    const upstream = this.options.upstream;
    if ('error' in result) {
      const reason = `the authorization server refused the sign-in: ${result.error}${result.description ? ` (${result.description})` : ''}`;
      this.setState({ signedIn: false, reason });
      throw new Error(reason);
    }
    this.finishing = attempt;
    try {
      await auth(this, { serverUrl: this.options.url, authorizationCode: result.code, ...this.challenge, fetchFn: this.options.fetch });
    } catch (error) {
      const reason = `exchanging the sign-in code failed: ${describeAuthError(error)}`;
      this.options.logger.warn(reason);
      this.setState({ signedIn: false, reason });
      throw new Error(reason);
    } finally {
      this.finishing = undefined;
    }
    this.options.callbacks.forgetAttempts(upstream);
    this.pendingReason = undefined;
    this.options.logger.info('signed in');
    this.setState({ signedIn: true });
    return `MCP Session Hub is signed in to '${upstream}'. You can close this tab.`;
  }

  private setState(state: SignInState): void {
    const wasSignedIn = this.stateValue.signedIn;
    this.stateValue = state;
    if (!state.signedIn && wasSignedIn) this.options.logger.warn(`needs sign-in: ${state.reason}`);
    this.emitter.fire(state);
  }

  // --- Storage: per resource; the registration per (issuer, resource); tokens per (issuer, client, resource) ---

  private issuer(): string {
    return this.discovery?.authorizationServerUrl ?? '';
  }

  private discoveryName(): string {
    return `oauth/discovery/${this.options.url}`;
  }

  private registrationName(): string {
    return `oauth/client/${this.issuer()} ${this.options.url}`;
  }

  private tokensName(): string {
    const client = this.clientInformation()?.client_id ?? '';
    return `oauth/tokens/${this.issuer()} ${client} ${this.options.url}`;
  }

  private async readJson<T>(name: string): Promise<T | undefined> {
    const text = await this.options.store.get(name);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      this.options.logger.warn(`stored sign-in data is damaged; it is dropped`);
      await this.options.store.delete(name);
      return undefined;
    }
  }

  private async writeJson(name: string, value: unknown): Promise<void> {
    await this.options.store.set(name, JSON.stringify(value));
  }

  dispose(): void {
    this.options.callbacks.forgetAttempts(this.options.upstream);
    this.emitter.dispose();
  }
}

/** How a user signs in to an upstream that needs it, in the words of an error message. */
export function howToSignIn(upstream: string): string {
  return `sign in with \`mcp-session-hub login ${upstream}\`, POST /admin/upstreams/${upstream}/login, or the Sign in action on '${upstream}' in VS Code's MCP Session Hub view`;
}

/** An OAuth failure in words, never with a token in them (the SDK's errors carry none). */
export function describeAuthError(error: unknown): string {
  if (error instanceof UnauthorizedError) return 'sign-in needed';
  return errorMessage(error)
    .replace(/(access_token|refresh_token|id_token|code|client_secret)=[^&\s"]+/g, '$1=…')
    .replace(/("(?:access_token|refresh_token|id_token|client_secret)"\s*:\s*)"[^"]*"/g, '$1"…"');
}
