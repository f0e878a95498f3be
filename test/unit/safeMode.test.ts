import assert from 'node:assert/strict';
import { OwnershipLedger } from '../../src/core/ownershipLedger';
import { checkCall, classifyTool, createdIds, targetIds } from '../../src/core/safeMode';

const a = '11111111-2222-4333-8444-555555555555';
const b = '66666666-7777-4888-9999-aaaaaaaaaaaa';

describe('safe mode policy', function () {
  it('classifies by annotations first, then by documented name prefixes', function () {
    assert.equal(classifyTool({ name: 'delete_item', annotations: { readOnlyHint: true } }, undefined), 'read');
    assert.equal(classifyTool({ name: 'archive', annotations: { destructiveHint: true } }, undefined), 'destructive');
    for (const name of ['delete_x', 'removeUser', 'destroy', 'update_item']) assert.equal(classifyTool({ name }, undefined), 'destructive', name);
    for (const name of ['create_item', 'addNote', 'deploy', 'new_thing']) assert.equal(classifyTool({ name }, undefined), 'create', name);
    assert.equal(classifyTool({ name: 'list_items' }, undefined), 'other');
    assert.equal(classifyTool({ name: 'list_items' }, { kind: 'destructive' }), 'destructive');
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
    assert.deepEqual(targetIds({ name: 'prod-db', id: a }, { idArguments: ['name'] }), ['prod-db']);
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
    assert.equal(checkCall({ upstream: 'up', tool: { name: 'list_items' }, args: { id: b }, rule: undefined, ledger }).allowed, true);
  });
});
