import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { fixtureUpstream, startTestHub, tempDir, testToken, type TestHub } from '../support/hubHarness';
import { rawRequest } from '../support/rawHttp';

/**
 * A client with OAuth on, as opencode makes one: the SDK's own auth flow runs on a 401 (discovery
 * under /.well-known, then dynamic registration on the server's root). It never gets to a browser.
 */
function oauthAwareClient(url: string, token: string | undefined) {
  const seen: { url: string; status: number }[] = [];
  let redirected: URL | undefined;
  const callback = 'http://127.0.0.1:9/callback';
  const provider: OAuthClientProvider = {
    get redirectUrl() {
      return callback;
    },
    get clientMetadata() {
      return { redirect_uris: [callback], client_name: 'oauth-aware test client' };
    },
    clientInformation: () => undefined,
    saveClientInformation: () => undefined,
    tokens: () => undefined,
    saveTokens: () => undefined,
    redirectToAuthorization: (to) => {
      redirected = to;
    },
    saveCodeVerifier: () => undefined,
    codeVerifier: () => 'unused',
  };
  const recordingFetch: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    seen.push({ url: String(input instanceof Request ? input.url : input), status: response.status });
    return response;
  };
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    authProvider: provider,
    fetch: recordingFetch,
    ...(token ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : {}),
  });
  return { client: new Client({ name: 'oauth-aware', version: '1.0.0' }), transport, seen, redirected: () => redirected };
}

/** A wrong hub token must read as a wrong token to OAuth-aware clients, not as "sign in here" (issue 27). */
describe('401s and /.well-known as OAuth-aware clients read them', function () {
  this.timeout(30_000);
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({ servers: { up: fixtureUpstream(join(tempDir(), 'up.log')) } });
  });
  after(async () => hub?.close());

  for (const [what, token] of [
    ['a wrong token', 'not-the-hub-token'],
    ['no token', undefined],
  ] as const) {
    it(`tells the SDK's OAuth flow with ${what} that the token is invalid, and offers no OAuth on the way`, async function () {
      const { client, transport, seen, redirected } = oauthAwareClient(hub.url, token);
      try {
        const error = await client.connect(transport).then(
          () => assert.fail('connected without the hub token'),
          (caught: unknown) => caught,
        );
        assert.ok(error instanceof InvalidTokenError, `the client read: ${String(error)}`);
        assert.match(error.message, /client token/);
        assert.equal(redirected(), undefined, 'the client was sent to sign in');
        const wellKnown = seen.filter((fetched) => new URL(fetched.url).pathname.startsWith('/.well-known/'));
        assert.ok(wellKnown.length > 0, 'the flow looked for no metadata');
        assert.deepEqual(wellKnown.filter((fetched) => fetched.status !== 404), [], 'a /.well-known path the hub does not serve was not 404');
      } finally {
        await client.close().catch(() => undefined);
      }
    });
  }

  it('challenges a wrong or missing token with error="invalid_token" (RFC 6750), on MCP endpoints and the admin API', async function () {
    for (const path of ['/mcp', '/servers/nope/mcp', '/sse', '/admin/state', '/register']) {
      for (const authorization of ['Bearer not-the-hub-token', undefined]) {
        const response = await rawRequest(`${hub.url}${path}`, { auth: false, headers: { authorization } });
        assert.equal(response.status, 401, path);
        const challenge = extractWWWAuthenticateParams(new Response(null, { headers: { 'www-authenticate': String(response.headers['www-authenticate']) } }));
        assert.equal(challenge.error, 'invalid_token', `${path}: ${String(response.headers['www-authenticate'])}`);
        assert.equal(challenge.resourceMetadataUrl, undefined, path);
      }
    }
  });

  it('answers 404 on every /.well-known path, with or without a token', async function () {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration', '/.WELL-KNOWN/anything/else']) {
      assert.equal((await rawRequest(`${hub.url}${path}`, { auth: false })).status, 404, path);
      assert.equal((await rawRequest(`${hub.url}${path}`, { headers: { authorization: `Bearer ${testToken}` } })).status, 404, path);
    }
  });
});
