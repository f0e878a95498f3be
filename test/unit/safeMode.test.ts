import assert from 'node:assert/strict';
import { classifyTool, createdIds, identifiersOfCall } from '../../src/core/sessions/safeMode';
import type { SafeModeToolRule } from '../../src/core/sessions/safeMode';

/** The values a call identifies, as the tests spell them. */
const targetIds = (args: Record<string, unknown>, rule: SafeModeToolRule | undefined) => identifiersOfCall({ name: 'tool' }, args, rule).map((identifier) => identifier.value);

const a = '11111111-2222-4333-8444-555555555555';
const b = '66666666-7777-4888-9999-aaaaaaaaaaaa';

describe('safe mode policy', function () {
  it("classifies by the spec's annotation defaults and by the words of the name", function () {
    assert.equal(classifyTool({ name: 'delete_item', annotations: { readOnlyHint: true } }, undefined), 'read');
    assert.equal(classifyTool({ name: 'archive', annotations: { destructiveHint: true } }, undefined), 'destructive');
    for (const name of ['delete_x', 'removeUser', 'destroy', 'update_item', 'purge_all', 'archive-thing', 'thing_delete', 'createOrUpdate']) {
      assert.equal(classifyTool({ name }, undefined), 'destructive', name);
    }
    for (const name of ['create_item', 'addNote', 'deploy', 'new_thing']) assert.equal(classifyTool({ name }, undefined), 'create', name);
    // No annotation says it is harmless: possibly destructive, so its ids are checked.
    assert.equal(classifyTool({ name: 'list_items' }, undefined), 'guarded');
    assert.equal(classifyTool({ name: 'zap', annotations: { readOnlyHint: false } }, undefined), 'destructive');
    assert.equal(classifyTool({ name: 'zap', annotations: { readOnlyHint: false, destructiveHint: false } }, undefined), 'additive');
    assert.equal(classifyTool({ name: 'list_items' }, { kind: 'destructive' }), 'destructive');
    assert.equal(classifyTool({ name: 'list_items' }, { kind: 'other' }), 'additive');
  });

  it('never counts as created an id the call was given', function () {
    const echo = { content: [{ type: 'text' as const, text: `made ${b}, titled ${a.toUpperCase()}` }], structuredContent: { id: b, title: a } };
    assert.deepEqual(createdIds(echo, undefined, { title: a.replaceAll('-', '') }).opaque, [b]);
    assert.deepEqual(createdIds({ content: [], structuredContent: { id: 'x', ref: 'y' } }, { idPaths: ['id', 'ref'] }, { ref: ' y ' }).opaque, ['x']);
  });

  it('finds GUIDs however they are spelled and wherever they stand, keys included', function () {
    const squeezed = a.replaceAll('-', '').toUpperCase();
    assert.deepEqual(targetIds({ keys: { [a]: true } }, undefined), [a]);
    assert.deepEqual(targetIds({ id: squeezed }, undefined), [squeezed]);
    assert.deepEqual(targetIds({ id: `item_${a}` }, undefined), [a]);
    assert.deepEqual(targetIds({ sha: `${a.replaceAll('-', '')}00ff00ff` }, undefined), [], 'a longer hex run is no GUID');
    assert.deepEqual(targetIds({ a, b: a.toUpperCase() }, undefined), [a], 'one id, two spellings');
  });

  it('finds GUIDs in structured content and text, or where config points', function () {
    const result = { content: [{ type: 'text' as const, text: `made ${a}` }], structuredContent: { item: { id: b, ref: 'x' } } };
    assert.deepEqual(createdIds(result, undefined).opaque.sort(), [a, b].sort());
    assert.deepEqual(createdIds(result, { idPaths: ['item.ref'] }).opaque, ['x']);
    assert.deepEqual(createdIds({ content: [{ type: 'text', text: 'job #42 started' }] }, { idPattern: 'job #(\\d+)' }).opaque, ['42']);
    assert.deepEqual(createdIds({ ...result, isError: true }, undefined).opaque, []);
  });

  it('finds target ids in any argument, or only in the configured ones', function () {
    assert.deepEqual(targetIds({ id: a, nested: { also: [b] }, note: 'no id here' }, undefined).sort(), [a, b].sort());
    // Configured id arguments add to the GUIDs found anywhere; they never hide one.
    assert.deepEqual(targetIds({ name: 'prod-db', id: a }, { idArguments: ['name'] }).sort(), [a, 'prod-db'].sort());
  });

  describe('identifiers read from input schemas (real servers\' shapes)', function () {
    it('reads identifier slots from nested schemas and from rules given as JSON pointers', function () {
      const relation = { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' }, relationType: { type: 'string' } } };
      const tool = { name: 'delete_relations', inputSchema: { type: 'object', properties: { relations: { type: 'array', items: relation } } } };
      const found = identifiersOfCall(tool, { relations: [{ from: 'A', to: 'B', relationType: 'knows' }] }, undefined);
      assert.deepEqual(found.map((i) => [i.kind, i.value, i.at]), [['name', 'A', '/relations/0/from'], ['name', 'B', '/relations/0/to']]);
      const ruled = identifiersOfCall({ name: 'zap' }, { batch: [{ target: 'T1' }, { target: 'T2' }] }, { idArguments: ['/batch/*/target'] });
      assert.deepEqual(ruled.map((i) => [i.kind, i.value, i.at]), [['id', 'T1', '/batch/0/target'], ['id', 'T2', '/batch/1/target']]);
      const long = 'x'.repeat(5000);
      assert.deepEqual(identifiersOfCall(tool, { relations: [{ from: long, to: 'B' }] }, undefined).map((i) => i.value), [long, 'B'], 'a value in an identifier slot is an identifier, however long');
    });
  });
});
