import assert from 'node:assert/strict';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { describeAuthError } from '../../src/upstream/oauth/upstreamAuth';

describe('OAuth errors in words', function () {
  it('never carries a token, code or secret that an error body echoed', function () {
    const text = describeAuthError(new Error('HTTP 500: {"access_token": "at-1", "refresh_token":"rt-1", "client_secret": "s"} code=c-1&state=ok'));
    for (const secret of ['at-1', 'rt-1', '"s"', 'c-1']) assert.ok(!text.includes(secret), text);
    assert.match(text, /state=ok/);
    assert.equal(describeAuthError(new UnauthorizedError()), 'sign-in needed');
  });
});
