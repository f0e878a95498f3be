import assert from 'node:assert/strict';
import { OwnershipIndex, OwnershipLedger } from '../../src/core/ownershipLedger';
import { checkCall, classifyTool, createdIds, identifiersOfCall } from '../../src/core/safeMode';
import type { SafeModeToolRule } from '../../src/core/safeMode';

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
    assert.equal(call({ id: a }).outcome, 'allow');
    const unowned = call({ id: b });
    assert.equal(unowned.outcome, 'ask');
    assert.match(unowned.outcome === 'ask' ? unowned.reason : '', new RegExp(`id ${b} was not created by this session`));
    assert.equal(call({ ids: [a, b] }).outcome === 'allow', false, 'one foreign id among owned ones');
    assert.equal(call({ id: a }, 'other-upstream').outcome === 'allow', false, 'ownership is per upstream');
    assert.equal(call({}).outcome === 'allow', false, 'a destructive call with no id cannot be judged');
    assert.equal(call({ id: a.toUpperCase().replaceAll('-', '') }).outcome === 'allow', true, 'its own id, respelled');
    const guarded = (args: Record<string, unknown>) => checkCall({ upstream: 'up', tool: { name: 'list_items' }, args, rule: undefined, ledger }).outcome === 'allow';
    assert.equal(guarded({ id: b }), false, 'an unannotated tool may destroy: its ids are checked');
    assert.equal(guarded({ page: 2 }), true, 'and with no id it passes');
    assert.equal(checkCall({ upstream: 'up', tool: { name: 'list_items', annotations: { readOnlyHint: true } }, args: { id: b }, rule: undefined, ledger }).outcome === 'allow', true);
  });

  describe('identifiers read from input schemas (real servers\' shapes)', function () {
    const fsSchema = (properties: Record<string, unknown>) => ({ type: 'object', properties });
    const str = { type: 'string' };
    const writeFile = { name: 'write_file', annotations: { readOnlyHint: false, destructiveHint: true }, inputSchema: fsSchema({ path: str, content: str }) };
    const moveFile = { name: 'move_file', annotations: { readOnlyHint: false, destructiveHint: true }, inputSchema: fsSchema({ source: str, destination: str }) };
    const createDirectory = { name: 'create_directory', annotations: { readOnlyHint: false, destructiveHint: false }, inputSchema: fsSchema({ path: str }) };
    const entities = { type: 'array', items: { type: 'object', properties: { name: str, entityType: str, observations: { type: 'array', items: str } } } };
    const createEntities = { name: 'create_entities', annotations: { readOnlyHint: false, destructiveHint: false }, inputSchema: fsSchema({ entities }) };
    const deletions = { type: 'array', items: { type: 'object', properties: { entityName: str, observations: { type: 'array', items: str } } } };
    const deleteObservations = { name: 'delete_observations', annotations: { readOnlyHint: false, destructiveHint: true }, inputSchema: fsSchema({ deletions }) };
    const addObservations = {
      name: 'add_observations',
      annotations: { readOnlyHint: false, destructiveHint: false },
      inputSchema: fsSchema({ observations: { type: 'array', items: { type: 'object', properties: { entityName: str, contents: { type: 'array', items: str } } } } }),
    };
    const deleteEntities = { name: 'delete_entities', annotations: { readOnlyHint: false, destructiveHint: true }, inputSchema: fsSchema({ entityNames: { type: 'array', items: str } }) };

    it('owns a directory and everything inside it, judging paths by their normal form', function () {
      const index = new OwnershipIndex();
      const alice = new OwnershipLedger(index);
      const bob = new OwnershipLedger(index);
      const check = (ledger: OwnershipLedger, tool: typeof writeFile, args: Record<string, unknown>) => checkCall({ upstream: 'fs', tool, args, rule: undefined, ledger });
      const made = check(alice, createDirectory, { path: '/srv/alice' });
      assert.equal(made.outcome, 'allow');
      alice.record('fs', 'create_directory', createdIds({ content: [{ type: 'text', text: 'Successfully created directory /srv/alice' }] }, undefined, { path: '/srv/alice' }, made.outcome === 'allow' ? made.creates : []));
      for (const path of ['/srv/alice/a.txt', '/srv/alice/../alice/b.txt', '/srv//alice/./c/', '/srv/alice/']) assert.equal(check(alice, writeFile, { path, content: 'x' }).outcome, 'allow', path);
      assert.equal(check(alice, writeFile, { path: '/srv/alice/../bob.txt', content: 'x' }).outcome, 'ask', 'out of the folder by ..');
      assert.equal(check(alice, writeFile, { path: '/srv/alicex/a.txt', content: 'x' }).outcome, 'ask', 'a sibling with a longer name is not inside');
      assert.equal(check(alice, moveFile, { source: '/srv/alice/a.txt', destination: '/srv/alice/sub/a.txt' }).outcome, 'allow');
      assert.equal(check(alice, moveFile, { source: '/srv/alice/a.txt', destination: '/tmp/a.txt' }).outcome, 'ask', 'both ends of a move');
      for (const args of [{ path: '/srv/alice/a.txt' }, { path: '/srv/alice/x/../a.txt' }, { path: '/srv' }]) {
        assert.equal(check(bob, writeFile, { ...args, content: 'x' }).outcome, 'refuse', `bob: ${args.path}`);
      }
      assert.equal(check(bob, moveFile, { source: '/srv/alice/a.txt', destination: '/srv/bob/a.txt' }).outcome, 'refuse');
      assert.equal(check(bob, createDirectory, { path: '/srv/alice/bob' }).outcome, 'refuse', 'nothing of his own inside her folder');
    });

    it("owns a graph's entities by name, nested arrays included, and never takes content for an identifier", function () {
      const index = new OwnershipIndex();
      const alice = new OwnershipLedger(index);
      const bob = new OwnershipLedger(index);
      const args = { entities: [{ name: 'Ada', entityType: 'person', observations: ['Ada wrote the first program'] }, { name: 'Old', entityType: 'x', observations: [] }] };
      const made = checkCall({ upstream: 'memory', tool: createEntities, args, rule: undefined, ledger: alice });
      assert.equal(made.outcome, 'allow');
      // The server answers with the entities it made: 'Old' existed already, so it is not Alice's.
      const result = { content: [{ type: 'text' as const, text: JSON.stringify([args.entities[0]]) }] };
      alice.record('memory', 'create_entities', createdIds(result, undefined, args, made.outcome === 'allow' ? made.creates : []));
      assert.deepEqual(alice.entries.map((entry) => [entry.kind, entry.id]), [['name', 'Ada']]);
      const judge = (ledger: OwnershipLedger, tool: typeof writeFile, callArgs: Record<string, unknown>) => checkCall({ upstream: 'memory', tool, args: callArgs, rule: undefined, ledger }).outcome;
      assert.equal(judge(alice, deleteObservations, { deletions: [{ entityName: 'Ada', observations: ['Ada wrote the first program'] }] }), 'allow');
      assert.equal(judge(alice, addObservations, { observations: [{ entityName: 'Ada', contents: ['more'] }] }), 'allow');
      assert.equal(judge(alice, deleteEntities, { entityNames: ['Ada', 'Old'] }), 'ask', "'Old' is nobody's here");
      assert.equal(judge(bob, addObservations, { observations: [{ entityName: 'Ada', contents: ['bob was here'] }] }), 'refuse');
      assert.equal(judge(bob, deleteObservations, { deletions: [{ entityName: 'Ada', observations: ['x'] }] }), 'refuse');
      assert.equal(judge(bob, deleteEntities, { entityNames: ['Ada'] }), 'refuse');
      assert.equal(judge(bob, createEntities, { entities: [{ name: 'Ada', entityType: 'p', observations: [] }] }), 'refuse', 'her name is not his to create');
      assert.equal(judge(alice, deleteEntities, { entityNames: ['ada'] }), 'ask', 'names are exact');
      const many = Array.from({ length: 1001 }, (_, i) => `e${i}`);
      assert.equal(judge(alice, deleteEntities, { entityNames: many }), 'refuse', 'more than safe mode judges in one call');
    });

    it('reads identifier slots from nested schemas and from rules given as JSON pointers', function () {
      const relation = { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' }, relationType: { type: 'string' } } };
      const tool = { name: 'delete_relations', inputSchema: { type: 'object', properties: { relations: { type: 'array', items: relation } } } };
      const found = identifiersOfCall(tool, { relations: [{ from: 'A', to: 'B', relationType: 'knows' }] }, undefined);
      assert.deepEqual(found.map((i) => [i.kind, i.value, i.at]), [['name', 'A', '/relations/0/from'], ['name', 'B', '/relations/0/to']]);
      const ruled = identifiersOfCall({ name: 'zap' }, { batch: [{ target: 'T1' }, { target: 'T2' }] }, { idArguments: ['/batch/*/target'] });
      assert.deepEqual(ruled.map((i) => [i.kind, i.value, i.at]), [['id', 'T1', '/batch/0/target'], ['id', 'T2', '/batch/1/target']]);
      assert.deepEqual(identifiersOfCall(tool, { relations: [{ from: 'x'.repeat(2000), to: 'B' }] }, undefined).map((i) => i.value), ['B'], 'long text is content');
    });
  });
});
