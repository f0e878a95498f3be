import assert from 'node:assert/strict';
import { ConfigError } from '../../src/core/infra/errors';

/** The issues of a config the loader refuses; fails the test when it is accepted. */
export function issuesOf(run: () => unknown): { path: string; message: string }[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected the config to be refused');
}
