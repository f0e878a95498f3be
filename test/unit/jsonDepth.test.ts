import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { jsonDepthExceeds } from '../../src/core/infra/jsonDepth';

/** How deeply a parsed value nests arrays and objects: what the byte scan must agree with. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depthOf(child)), 0);
}

describe('jsonDepthExceeds', () => {
  it('agrees with the parsed depth for any JSON, brackets inside strings included, at every limit', () => {
    const bracketyString = fc.string({ unit: fc.constantFrom('[', '{', ']', '}', '"', '\\', 'a') });
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, bracketyString, fc.integer(), fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(bracketyString, tie('node'), { maxKeys: 3 })),
    })).node;
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 8 }), (json, limit) => {
        const text = JSON.stringify(json);
        assert.equal(jsonDepthExceeds(text, limit), depthOf(json) > limit, text);
        assert.equal(jsonDepthExceeds(new Uint8Array(Buffer.from(text)), limit), depthOf(json) > limit, text);
      }),
      { numRuns: 2000 },
    );
  });

  it('finds a deep nesting past many shallow brackets, and passes many shallow ones', () => {
    const shallow = JSON.stringify(Array.from({ length: 500 }, () => ({ a: [1] })));
    assert.equal(jsonDepthExceeds(shallow, 64), false);
    assert.equal(jsonDepthExceeds(`${shallow.slice(0, -1)},${'['.repeat(65)}${']'.repeat(65)}]`, 64), true);
  });
});
