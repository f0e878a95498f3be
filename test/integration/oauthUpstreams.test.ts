import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { validateConfig } from '../../src/core/config/config';
import { runHub, type RunningHub } from '../../src/http/runHub';
import { FileSecretStore } from '../../src/upstream/oauth/secretStore';
import { startOAuthFixture, type OAuthFixture, type OAuthFixtureSettings } from '../fixtures/oauthFixture';
import { connectClient, tempDir, testAdminToken, testLogger, testToken, waitFor } from '../support/hubHarness';

type Hub = RunningHub & { url: string; logLines: string[]; storePath: string };

async function startHub(fixture: OAuthFixture, storePath: string, transport: 'http' | 'sse' = 'http'): Promise<Hub> {
  const logLines: string[] = [];
  const running = await runHub({
    config: validateConfig({ servers: { remote: { type: transport, url: transport === 'sse' ? fixture.sseUrl : fixture.mcpUrl } } }, 'test config'),
    token: testToken,
    adminToken: testAdminToken,
    logger: testLogger(logLines),
    port: 0,
    upstreamBackoffMs: 100,
    secretStore: new FileSecretStore(storePath),
  });
  return { ...running, url: running.gateway.url, logLines, storePath };
}

function upstreamState(hub: Hub) {
  const state = hub.hub.state().upstreams.find((u) => u.id === 'remote');
  assert.ok(state, 'upstream remote in the state');
  return state;
}

/** Follows an authorization URL as a browser would: the fixture approves at once and redirects to the hub. */
async function follow(authorizationUrl: string): Promise<{ status: number; body: string; callbackUrl: string }> {
  const approved = await fetch(authorizationUrl, { redirect: 'manual' });
  assert.equal(approved.status, 302, `the authorization server redirects (got ${approved.status})`);
  const callbackUrl = approved.headers.get('location') ?? '';
  const callback = await fetch(callbackUrl);
  return { status: callback.status, body: await callback.text(), callbackUrl };
}

async function signIn(hub: Hub): Promise<string> {
  await waitFor(() => upstreamState(hub).state === 'needs-auth' && upstreamState(hub).signIn?.authorizationUrl !== undefined, 10_000, 'needs-auth with a URL');
  const url = upstreamState(hub).signIn?.authorizationUrl ?? '';
  const { status, body, callbackUrl } = await follow(url);
  assert.equal(status, 200, body);
  assert.match(body, /signed in to &#39;remote&#39;/);
  await waitFor(() => upstreamState(hub).state === 'ready', 10_000, 'ready after sign-in');
  return callbackUrl;
}

async function callWhoami(client: Client): Promise<string> {
  const result = await client.callTool({ name: 'remote__whoami', arguments: {} });
  return (result.content as { text: string }[])[0].text;
}

/** No issued token in the hub's log lines, its admin state, or the errors clients saw. */
function assertNoTokens(fixture: OAuthFixture, hub: Hub, extra: string[] = []): void {
  const texts = [hub.logLines.join('\n'), JSON.stringify(hub.hub.state()), ...extra];
  for (const token of fixture.stats.issued) for (const text of texts) assert.ok(!text.includes(token), 'a token appears in the logs, the admin state or an error');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('OAuth upstreams: the hub signs in, keeps and refreshes tokens', function () {
  this.timeout(60_000);
  let fixture: OAuthFixture | undefined;
  const hubs: Hub[] = [];
  const clients: Client[] = [];

  async function setUp(settings: Partial<OAuthFixtureSettings> = {}, storePath = join(tempDir('hub-oauth-'), 'oauth-credentials.json'), transport: 'http' | 'sse' = 'http'): Promise<Hub> {
    fixture ??= await startOAuthFixture(settings);
    const hub = await startHub(fixture, storePath, transport);
    hubs.push(hub);
    return hub;
  }

  async function client(hub: Hub): Promise<Client> {
    const connected = await connectClient(hub.url);
    clients.push(connected);
    return connected;
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await Promise.all(hubs.splice(0).map((h) => h.close().catch(() => undefined)));
    await fixture?.close();
    fixture = undefined;
  });

  it('waits in needs-auth with the URL, signs in through its loopback redirect (PKCE, resource), keeps tokens in a 0600 file, and needs no sign-in after a restart', async function () {
    const hub = await setUp();
    const before = upstreamState(hub);
    assert.equal(before.state, 'needs-auth');
    assert.match(before.signIn?.authorizationUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/authorize\?.*code_challenge=.*&code_challenge_method=S256/);
    assert.match(before.signIn?.authorizationUrl ?? '', /redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Foauth%2Fcallback/);
    // A tool call meanwhile gets an error that names the upstream and how to sign in.
    const early = await client(hub);
    const refused = await early.callTool({ name: 'remote__whoami', arguments: {} }).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof McpError, String(refused));
    assert.match(refused.message, /upstream 'remote' is needs-auth \(needs sign-in .*mcp-session-hub login remote/);

    await signIn(hub);
    assert.equal(await callWhoami(await client(hub)), 'signed in');
    const fx = fixture!;
    assert.ok(fx.stats.resources.length >= 2 && fx.stats.resources.every((r) => r === fx.mcpUrl), `resource sent: ${fx.stats.resources.join(', ')}`);
    assert.equal(statSync(hub.storePath).mode & 0o777, 0o600);
    assertNoTokens(fx, hub, [refused.message]);

    await Promise.all(clients.splice(0).map((c) => c.close()));
    await hub.close();
    hubs.splice(0);
    const registrations = fx.stats.registrations;
    const again = await setUp({}, hub.storePath);
    await waitFor(() => upstreamState(again).state === 'ready', 10_000, 'ready from stored tokens');
    assert.equal(await callWhoami(await client(again)), 'signed in');
    assert.equal(fx.stats.authorizations, 1, 'no second sign-in');
    assert.equal(fx.stats.registrations, registrations, 'no second registration');
    assertNoTokens(fx, again);
  });

  it('refreshes a token before it expires, once for two sessions calling at once', async function () {
    // Refresh is due at half the 12 s life, 6 s after sign-in; the token still works until 12 s.
    const hub = await setUp({ expiresIn: 12 });
    await signIn(hub);
    const [one, two] = [await client(hub), await client(hub)];
    assert.equal(await callWhoami(one), 'signed in');
    assert.equal(fixture!.stats.refreshes, 0);
    await sleep(7_000);
    const answers = await Promise.all([callWhoami(one), callWhoami(two), callWhoami(one), callWhoami(two)]);
    assert.deepEqual(answers, ['signed in', 'signed in', 'signed in', 'signed in']);
    assert.equal(fixture!.stats.refreshes, 1, 'one refresh for all the calls');
    assert.equal(fixture!.stats.rejectedTokens, 0, 'refreshed before expiry: no call was refused');
    assertNoTokens(fixture!, hub);
  });

  it('refreshes once after a 401 and the call goes through, for two sessions calling at once', async function () {
    const hub = await setUp();
    await signIn(hub);
    const [one, two] = [await client(hub), await client(hub)];
    assert.equal(await callWhoami(one), 'signed in');
    fixture!.revokeAccessTokens();
    const answers = await Promise.all([callWhoami(one), callWhoami(two), callWhoami(one)]);
    assert.deepEqual(answers, ['signed in', 'signed in', 'signed in']);
    assert.equal(fixture!.stats.refreshes, 1, 'one refresh for every call that got 401');
    assert.equal(upstreamState(hub).state, 'ready');
    assertNoTokens(fixture!, hub);
  });

  it('signs in to a legacy SSE upstream, and refreshes once after a 401 there', async function () {
    const hub = await setUp({}, undefined, 'sse');
    await signIn(hub);
    const session = await client(hub);
    assert.equal(await callWhoami(session), 'signed in');
    assert.ok(fixture!.stats.resources.every((r) => r === fixture!.sseUrl), `resource sent: ${fixture!.stats.resources.join(', ')}`);
    fixture!.revokeAccessTokens();
    assert.equal(await callWhoami(session), 'signed in');
    assert.equal(fixture!.stats.refreshes, 1);
    assertNoTokens(fixture!, hub);
  });

  it('a refused refresh (invalid_grant) puts the upstream in needs-auth once, without retrying', async function () {
    const hub = await setUp({ expiresIn: 12, refuseRefresh: true });
    await signIn(hub);
    const session = await client(hub);
    assert.equal(await callWhoami(session), 'signed in');
    const signedInAt = hub.logLines.length;
    await sleep(7_000);
    const errors: string[] = [];
    for (let i = 0; i < 5; i++) {
      const error = await callWhoami(session).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof McpError, `call ${i} fails: ${String(error)}`);
      assert.match(error.message, /'remote'.*needs sign-in.*mcp-session-hub login remote/);
      errors.push(error.message);
    }
    const state = upstreamState(hub);
    assert.equal(state.state, 'needs-auth');
    assert.match(state.signIn?.reason ?? '', /invalid_grant/);
    assert.match(state.signIn?.authorizationUrl ?? '', /\/authorize\?/);
    assert.equal(fixture!.stats.refusedRefreshes, 1, 'one refresh tried, no storm');
    const changes = hub.logLines.slice(signedInAt).filter((line) => line.includes('needs sign-in:'));
    assert.equal(changes.length, 1, `one state change:\n${changes.join('\n')}`);
    assertNoTokens(fixture!, hub, errors);
    // Signing in again brings it back.
    await signIn(hub);
    assert.equal(await callWhoami(session), 'signed in');
  });

  it('refuses a replayed or unknown state', async function () {
    const hub = await setUp();
    await waitFor(() => upstreamState(hub).signIn?.authorizationUrl !== undefined, 10_000, 'a URL');
    const approved = await fetch(upstreamState(hub).signIn?.authorizationUrl ?? '', { redirect: 'manual' });
    const callback = new URL(approved.headers.get('location') ?? '');
    const forged = new URL(callback);
    forged.searchParams.set('state', 'made-up-state');
    const mismatch = await fetch(forged);
    assert.equal(mismatch.status, 400);
    assert.match(await mismatch.text(), /unknown, expired or was already used/);
    assert.equal(upstreamState(hub).state, 'needs-auth');
    assert.equal(fixture!.stats.codeExchanges, 0, 'the code that came with a wrong state is not used');

    const first = await fetch(callback);
    assert.equal(first.status, 200);
    await waitFor(() => upstreamState(hub).state === 'ready', 10_000, 'ready');
    const replay = await fetch(callback);
    assert.equal(replay.status, 400);
    assert.match(await replay.text(), /already used/);
    assert.equal(fixture!.stats.codeExchanges, 1);
  });

  it('refuses protected resource metadata whose resource is not the upstream URL', async function () {
    const hub = await setUp({ resource: 'http://127.0.0.1:9/someone-else' });
    await waitFor(() => upstreamState(hub).state === 'failed', 10_000, 'failed');
    const state = upstreamState(hub);
    assert.match(state.lastError ?? '', /signing in failed: Protected resource http:\/\/127\.0\.0\.1:9\/someone-else does not match/);
    assert.equal(fixture!.stats.authorizations, 0);
    assert.equal(state.signIn, undefined, 'no authorization URL is offered');
  });

  it('signs in from POST /admin/upstreams/{id}/login, and signs out', async function () {
    const hub = await setUp();
    const login = await fetch(`${hub.url}/admin/upstreams/remote/login`, { method: 'POST', headers: { authorization: `Bearer ${testAdminToken}` } });
    assert.equal(login.status, 200);
    const { authorizationUrl } = (await login.json()) as { authorizationUrl: string };
    const { status } = await follow(authorizationUrl);
    assert.equal(status, 200);
    await waitFor(() => upstreamState(hub).state === 'ready', 10_000, 'ready');
    const logout = await fetch(`${hub.url}/admin/upstreams/remote/logout`, { method: 'POST', headers: { authorization: `Bearer ${testAdminToken}` } });
    assert.equal(logout.status, 200);
    await waitFor(() => upstreamState(hub).state === 'needs-auth', 10_000, 'needs-auth after sign-out');
    assert.ok(!readFileSync(hub.storePath, 'utf8').includes('oauth/tokens/'), 'tokens forgotten');
    assertNoTokens(fixture!, hub);
  });
});
