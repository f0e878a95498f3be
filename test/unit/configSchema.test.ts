import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse as parseJsonc } from 'jsonc-parser';
import { validateConfig } from '../../src/core/config/config';
import { hubConfigJsonSchema } from '../../src/core/config/configSchema';
import { defaultConfigJson } from '../../src/core/config/defaultConfig';
import { ConfigError } from '../../src/core/infra/errors';

const repoRoot = join(__dirname, '..', '..', '..');

/** The example under "Config reference" in the README: what a user copies first. */
function readmeExample(): unknown {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Config reference'));
  const block = /```jsonc\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'the README has a jsonc example under Config reference');
  return parseJsonc(block[1]) as unknown;
}

describe('the hub config JSON schema', function () {
  // The editor's schema may be laxer than the loader (it cannot pick a variant in code), never stricter.
  const validate = new Ajv({ strict: false, allErrors: true }).compile(hubConfigJsonSchema());

  it('accepts the example configs the loader accepts', function () {
    for (const [name, example] of [
      ['README example', readmeExample()],
      ['embedded default', defaultConfigJson('/opt/demo.js', '/usr/bin/node')],
      ['a url-only entry with an input', { inputs: [{ type: 'promptString', id: 't', password: true }], servers: { 'io.x/y': { url: 'https://h/mcp', headers: { A: '${input:t}' } } } }],
    ] as const) {
      validateConfig(example, name, { env: { GH_TOKEN: 'x' }, inputs: { t: 'v' } });
      assert.ok(validate(example), `${name}: ${JSON.stringify(validate.errors)}`);
    }
  });

  it('rejects what the loader rejects: wrong types, unknown keys where typos matter, bad enums', function () {
    for (const [name, bad] of [
      ['a timeout below the minimum', { servers: { a: { command: 'x', timeout: 5 } } }],
      ['a typo in a virtual server', { servers: { a: { command: 'x' } }, virtualServers: { v: { upstreams: ['a'], tols: [] } } }],
      ['a setting of the wrong type', { hub: { maxBodyBytes: 'big' } }],
      ['a stdio upstream without a command', { servers: { a: { type: 'stdio' } } }],
      ['a command input', { inputs: [{ type: 'command', id: 'c' }] }],
      ['a variable VS Code has but the hub cannot resolve', { servers: { a: { command: 'x', args: ['${config:editor.tabSize}'] } } }],
      ['an unknown variable in a header', { servers: { a: { url: 'http://h/mcp', headers: { k: '${file}' } } } }],
      ['an unterminated variable', { servers: { a: { command: 'x', env: { K: '${input:k' } } } }],
    ] as const) {
      assert.throws(() => validateConfig(bad, name), ConfigError, `${name}: the loader accepted it`);
      assert.equal(validate(bad), false, `${name}: the schema accepted it`);
    }
  });

  it('is what the build ships (dist/hub-config.schema.json, contributed in package.json)', function () {
    const shipped = join(repoRoot, 'dist', 'hub-config.schema.json');
    if (!existsSync(shipped)) this.skip(); // typecheck-only runs have no dist/
    assert.deepEqual(JSON.parse(readFileSync(shipped, 'utf8')), hubConfigJsonSchema());
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { contributes: { jsonValidation: { url: string }[] } };
    assert.equal(manifest.contributes.jsonValidation[0].url, './dist/hub-config.schema.json');
  });
});
