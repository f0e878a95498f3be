import assert from 'node:assert/strict';
import { OwnershipIndex, OwnershipLedger } from '../../src/core/ownershipLedger';
import { checkCall, classifyTool, createdIds, targetIds } from '../../src/core/safeMode';

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
    assert.deepEqual(createdIds(echo, undefined, { title: a.replaceAll('-', '') }), [b]);
    assert.deepEqual(createdIds({ content: [], structuredContent: { id: 'x', ref: 'y' } }, { idPaths: ['id', 'ref'] }, { ref: ' y ' }), ['x']);
  });

  it('finds GUIDs however they are spelled and wherever they stand, keys included', function () {
    const squeezed = a.replaceAll('-', '').toUpperCase();
    assert.deepEqual(targetIds({ keys: { [a]: true } }, undefined), [a]);
    assert.deepEqual(targetIds({ id: squeezed }, undefined), [squeezed]);
    assert.deepEqual(targetIds({ id: `item_${a}` }, undefined), [a]);
    assert.deepEqual(targetIds({ sha: `${a.replaceAll('-', '')}00ff00ff` }, undefined), [], 'a longer hex run is no GUID');
    assert.deepEqual(targetIds({ a, b: a.toUpperCase() }, undefined), [a], 'one id, two spellings');
  });

  it('gives an id one owner per upstream, and frees it with its ledger', function () {
    const index = new OwnershipIndex();
    const alice = new OwnershipLedger(index);
    const bob = new OwnershipLedger(index);
    assert.deepEqual(alice.record('up', 'create', [a]), { recorded: [a], collisions: [] });
    assert.deepEqual(bob.record('up', 'create', [a.toUpperCase(), b]), { recorded: [b], collisions: [a.toUpperCase()] });
    assert.deepEqual(bob.record('other', 'create', [a]).recorded, [a], 'per upstream');
    assert.equal(bob.owns('up', a), false);
    alice.clear();
    assert.deepEqual(bob.record('up', 'create', [a]).recorded, [a], 'free once its owner ended');
  });

  it('finds GUIDs in structured content and text, or where config points', function () {
    const result = { content: [{ type: 'text' as const, text: `made ${a}` }], structuredContent: { item: { id: b, ref: 'x' } } };
    assert.deepEqual(createdIds(result, undefined).sort(), [a, b].sort());
    assert.deepEqual(createdIds(result, { idPaths: ['item.ref'] }), ['x']);
    assert.deepEqual(createdIds({ content: [{ type: 'text', text: 'job #42 started' }] }, { idPattern: 'job #(\\d+)' }), ['42']);
    assert.deepEqual(createdIds({ ...result, isError: true }, undefined), []);
  });

  it('finds target ids in any argument, or only in the configured ones', function () {
    assert.deepEqual(targetIds({ id: a, nested: { also: [b] }, note: 'no id here' }, undefined).sort(), [a, b].sort());
    // Configured id arguments add to the GUIDs found anywhere; they never hide one.
    assert.deepEqual(targetIds({ name: 'prod-db', id: a }, { idArguments: ['name'] }).sort(), [a, 'prod-db'].sort());
  });

  it('lets a destructive call through only when the session owns every id', function () {
    const ledger = new OwnershipLedger();
    ledger.record('up', 'create_item', [a]);
    const call = (args: Record<string, unknown>, upstream = 'up') =>
      checkCall({ upstream, tool: { name: 'delete_item' }, args, rule: undefined, ledger });
    assert.deepEqual(call({ id: a }), { allowed: true, kind: 'destructive', ids: [a] });
    const foreign = call({ id: b });
    assert.equal(foreign.allowed, false);
    assert.match(!foreign.allowed ? foreign.reason : '', new RegExp(`id ${b} was not created by this session`));
    assert.equal(call({ ids: [a, b] }).allowed, false, 'one foreign id among owned ones');
    assert.equal(call({ id: a }, 'other-upstream').allowed, false, 'ownership is per upstream');
    assert.equal(call({}).allowed, false, 'a destructive call with no id cannot be judged');
    assert.equal(call({ id: a.toUpperCase().replaceAll('-', '') }).allowed, true, 'its own id, respelled');
    const guarded = (args: Record<string, unknown>) => checkCall({ upstream: 'up', tool: { name: 'list_items' }, args, rule: undefined, ledger }).allowed;
    assert.equal(guarded({ id: b }), false, 'an unannotated tool may destroy: its ids are checked');
    assert.equal(guarded({ page: 2 }), true, 'and with no id it passes');
    assert.equal(checkCall({ upstream: 'up', tool: { name: 'list_items', annotations: { readOnlyHint: true } }, args: { id: b }, rule: undefined, ledger }).allowed, true);
  });
});
