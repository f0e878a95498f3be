import assert from 'node:assert/strict';
import { validateConfig, type RemoteUpstreamConfig } from '../../src/core/config/config';
import { ConfigError } from '../../src/core/infra/errors';
import { mergeImport, readCandidates } from '../../src/core/config/importServers';

function issues(raw: unknown): string[] {
  try {
    validateConfig(raw, 'hub.json', { env: { ACME_SECRET: 's3cret' } });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
    throw error;
  }
  return [];
}

describe('config: oauth on remote upstreams', function () {
  it('takes a pre-registered client with its secret from the environment', function () {
    const config = validateConfig(
      { servers: { acme: { type: 'http', url: 'https://mcp.acme.example/mcp', oauth: { clientId: 'hub', clientSecret: '${env:ACME_SECRET}', tokenEndpointAuthMethod: 'client_secret_basic', scopes: ['read', 'write'], callbackPort: 33418 } } } },
      'hub.json',
      { env: { ACME_SECRET: 's3cret' } },
    );
    const acme = config.upstreams.get('acme') as RemoteUpstreamConfig;
    assert.deepEqual(acme.oauth, { clientId: 'hub', clientSecret: 's3cret', tokenEndpointAuthMethod: 'client_secret_basic', scopes: ['read', 'write'], callbackPort: 33418 });
  });

  it('says what is wrong and where', function () {
    assert.deepEqual(
      issues({
        servers: {
          a: { type: 'http', url: 'https://a.example/mcp', oauth: { clientMetadataUrl: 'http://a.example/client.json' } },
          b: { type: 'http', url: 'https://b.example/mcp', oauth: { clientSecret: 'x' } },
          c: { type: 'sse', url: 'https://c.example/sse', oauth: { clientId: 'c', tokenEndpointAuthMethod: 'client_secret_post' } },
          d: { url: 'https://d.example/mcp', oauth: { scopes: ['two words'], callbackPort: 70000, client_id: 'typo' } },
        },
      }),
      [
        'servers.a.oauth.clientMetadataUrl: must be an https URL with a path',
        'servers.d.oauth.scopes[0]: must be a scope token (no spaces or quotes)',
        'servers.d.oauth.callbackPort: Number must be less than or equal to 65535',
        "servers.d.oauth: Unrecognized key(s) in object: 'client_id'",
      ],
    );
    assert.deepEqual(issues({ servers: { b: { type: 'http', url: 'https://b.example/mcp', oauth: { clientSecret: 'x' } } } }), ['servers.b.oauth.clientSecret: needs oauth.clientId: a secret belongs to a pre-registered client']);
    assert.deepEqual(issues({ servers: { c: { type: 'sse', url: 'https://c.example/sse', oauth: { clientId: 'c', tokenEndpointAuthMethod: 'client_secret_post' } } } }), ['servers.c.oauth.tokenEndpointAuthMethod: "client_secret_post" needs oauth.clientSecret']);
  });
});

describe('import: oauth fields', function () {
  it("carries over Claude's oauth.clientId and callbackPort, and leaves fields the hub does not read", function () {
    const text = JSON.stringify({ mcpServers: { linear: { type: 'http', url: 'https://mcp.linear.app/mcp', oauth: { clientId: 'abc', callbackPort: 33418, authServerMetadataUrl: 'https://x.example' } } } });
    const [candidate] = readCandidates({ kind: 'claude', label: 'Claude Code (user)', path: '/home/ann/.claude.json' }, text);
    assert.deepEqual(candidate.entry.oauth, { clientId: 'abc', callbackPort: 33418 });
    const merged = mergeImport('', 'hub.json', [candidate]);
    assert.deepEqual(merged.skipped, []);
    assert.match(merged.text, /"callbackPort": 33418/);
  });
});
