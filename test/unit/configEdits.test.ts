import assert from 'node:assert/strict';
import { parseConfig } from '../../src/core/config/config';
import { addVirtualServer, ConfigEditError, deleteVirtualServer, renameVirtualServer, setToolSelected } from '../../src/core/config/configEdits';

const hubFile = `{
  // my upstreams
  "servers": {
    "docs": { "command": "node", "args": ["docs.js"] }, // the docs server
    "gh": { "command": "node", "args": ["gh.js"] }
  },
  "virtualServers": {
    /* research: read only */
    "research": { "upstreams": ["docs", "gh"] },
    "short": { "upstreams": ["docs"], "tools": ["docs/search", "docs/read"] },
    "globbed": { "upstreams": ["docs"], "tools": { "exclude": ["docs/delete_*"] } }
  }
}
`;

/** What the loader makes of the edited text: the selection the hub will apply. */
const toolsOf = (text: string, id: string) => parseConfig(text, 'hub.jsonc').virtualServers.get(id)?.tools;

describe('config edits from the UI keep comments and change only what was asked', function () {
  it('unchecking a tool adds an exclude; checking it again removes that exclude', function () {
    const hidden = setToolSelected(hubFile, 'research', 'gh', 'create_issue', false);
    assert.deepEqual(toolsOf(hidden, 'research'), { include: ['*'], exclude: ['gh/create_issue'] });
    const hiddenTwo = setToolSelected(hidden, 'research', 'docs', 'write', false);
    assert.deepEqual(toolsOf(hiddenTwo, 'research'), { include: ['*'], exclude: ['gh/create_issue', 'docs/write'] });
    const shown = setToolSelected(hiddenTwo, 'research', 'gh', 'create_issue', true);
    assert.deepEqual(toolsOf(shown, 'research'), { include: ['*'], exclude: ['docs/write'] });
    for (const text of [hidden, hiddenTwo, shown]) {
      assert.match(text, /\/\/ my upstreams/);
      assert.match(text, /\/\/ the docs server/);
      assert.match(text, /\/\* research: read only \*\//);
    }
    assert.equal(setToolSelected(hidden, 'research', 'gh', 'create_issue', false), hidden, 'hiding a hidden tool changes nothing');
  });

  it('turns the array shorthand into include/exclude, and adds a tool the include globs miss', function () {
    const hidden = setToolSelected(hubFile, 'short', 'docs', 'read', false);
    assert.deepEqual(toolsOf(hidden, 'short'), { include: ['docs/search', 'docs/read'], exclude: ['docs/read'] });
    const added = setToolSelected(hubFile, 'short', 'docs', 'list', true);
    assert.deepEqual(toolsOf(added, 'short'), { include: ['docs/search', 'docs/read', 'docs/list'], exclude: [] });
  });

  it('says which glob to change when a broader exclude hides the tool', function () {
    assert.throws(() => setToolSelected(hubFile, 'globbed', 'docs', 'delete_page', true), (error: unknown) => error instanceof ConfigEditError && /'docs\/delete_\*'/.test(error.message));
  });

  it('adds, renames (keeping the entry as written) and deletes virtual servers', function () {
    const added = addVirtualServer(hubFile, 'both', ['docs', 'gh']);
    assert.deepEqual(parseConfig(added, 'f').virtualServers.get('both')?.upstreams, ['docs', 'gh']);
    assert.throws(() => addVirtualServer(added, 'both', ['docs']), ConfigEditError);
    const renamed = renameVirtualServer(hubFile, 'research', 'reading');
    assert.equal(renamed, hubFile.replace('"research":', '"reading":'));
    const deleted = deleteVirtualServer(hubFile, 'short');
    assert.deepEqual([...parseConfig(deleted, 'f').virtualServers.keys()], ['research', 'globbed']);
    assert.match(deleted, /\/\/ the docs server/);
  });
});
