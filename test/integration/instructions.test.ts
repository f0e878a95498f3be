import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { connectClient, fixturesDir, startTestHub, tempDir, waitFor, type TestHub } from '../support/hubHarness';

const everything = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
const launchEchoFixture = join(fixturesDir, 'launchEchoFixture.js');

/** What server-everything tells a client that connects to it directly. */
async function everythingInstructions(): Promise<string> {
  const client = new Client({ name: 'direct', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [everything, 'stdio'], stderr: 'ignore' }));
  try {
    const instructions = client.getInstructions();
    assert.ok(instructions && instructions.length > 200, 'server-everything sent no instructions of its own');
    return instructions;
  } finally {
    await client.close();
  }
}

/** A fixture upstream whose instructions are the text of `file` when it starts. */
const echoWithInstructions = (file: string) => ({ command: process.execPath, args: [launchEchoFixture], env: { FIXTURE_INSTRUCTIONS_FILE: file } });

async function instructionsAt(hub: TestHub, virtualServer?: string): Promise<string> {
  const client = await connectClient(hub.url, virtualServer === undefined ? {} : { virtualServer });
  try {
    const instructions = client.getInstructions();
    assert.ok(instructions !== undefined, `no instructions at ${virtualServer ?? 'the global endpoint'}`);
    return instructions;
  } finally {
    await client.close();
  }
}

/** Upstream instructions reach the client: they tell the model how to use the server's tools (issue 27). */
describe("upstreams' instructions through the hub", function () {
  this.timeout(90_000);
  let direct: string;
  let hub: TestHub;
  let dir: string;
  let notesFile: string;

  before(async () => {
    direct = await everythingInstructions();
    dir = tempDir('hub-instructions-');
    notesFile = join(dir, 'notes.md');
    writeFileSync(notesFile, 'Call echo.launch before anything else.');
    hub = await startTestHub({
      servers: {
        everything: { command: process.execPath, args: [everything, 'stdio'] },
        'notes.v1': echoWithInstructions(notesFile),
      },
      virtualServers: {
        plain: { upstreams: ['everything'], naming: 'bare' },
        described: { upstreams: ['everything'], description: 'The everything server, for trying MCP features.' },
        both: { upstreams: ['everything', 'notes.v1'], description: 'Two servers.' },
        bare: { upstreams: ['notes.v1', 'everything'], naming: 'bare' },
      },
    });
  });
  after(async () => hub?.close());

  it("gives a virtual server with one upstream that upstream's instructions, after its own description", async function () {
    assert.equal(await instructionsAt(hub, 'plain'), direct);
    assert.equal(await instructionsAt(hub, 'described'), `The everything server, for trying MCP features.\n\n${direct}`);
  });

  it("gives a virtual server with several upstreams each one's instructions under a heading with its name and tool prefix", async function () {
    const text = await instructionsAt(hub, 'both');
    assert.ok(text.startsWith('Two servers.\n\n'), `the description does not come first: ${text.slice(0, 80)}`);
    const everythingAt = text.indexOf('## everything (tools named everything__<tool>)');
    const notesAt = text.indexOf('## notes.v1 (tools named notes_v1__<tool>)');
    assert.ok(everythingAt > 0 && notesAt > everythingAt, `headings missing or out of upstream order:\n${text}`);
    assert.ok(text.includes(direct.trim()), "server-everything's instructions are not all there");
    assert.ok(text.slice(notesAt).includes('Call echo.launch before anything else.'));

    const bare = await instructionsAt(hub, 'bare');
    assert.ok(bare.startsWith('## notes.v1 (tools under their own names)\n\nCall echo.launch'), bare.slice(0, 120));
    assert.ok(bare.includes('## everything (tools under their own names)'));
  });

  it('gives the global endpoint every upstream’s instructions the same way', async function () {
    const text = await instructionsAt(hub);
    assert.ok(text.startsWith('## everything (tools named everything__<tool>)\n\n'), text.slice(0, 120));
    assert.ok(text.includes('## notes.v1 (tools named notes_v1__<tool>)\n\nCall echo.launch before anything else.'));
  });

  it('follows a reconnect', async function () {
    // Reconnect: the upstream starts again and says something else now.
    writeFileSync(notesFile, 'Version two of the notes.');
    await hub.hub.restartUpstream('notes.v1');
    await waitFor(() => hub.hub.upstreamStatus('notes.v1')?.state === 'ready', 20_000, 'notes.v1 ready again');
    assert.ok((await instructionsAt(hub, 'both')).includes('Version two of the notes.'));
    assert.ok(!(await instructionsAt(hub, 'both')).includes('Call echo.launch'));
  });
});

describe("upstreams' instructions across a config reload", function () {
  this.timeout(60_000);
  let hub: TestHub;

  after(async () => hub?.close());

  it('takes the new description, upstreams and their instructions from the reloaded file', async function () {
    const dir = tempDir('hub-instructions-reload-');
    const first = join(dir, 'first.md');
    const second = join(dir, 'second.md');
    writeFileSync(first, 'First server rules.');
    writeFileSync(second, 'Second server rules.');
    const configPath = join(dir, 'hub.json');
    const config = (upstreams: string[], description: string) => ({
      servers: { first: echoWithInstructions(first), second: echoWithInstructions(second) },
      virtualServers: { work: { upstreams, description } },
    });
    writeFileSync(configPath, JSON.stringify(config(['first'], 'Before.')));
    hub = await startTestHub(undefined, { configPath });
    assert.equal(await instructionsAt(hub, 'work'), 'Before.\n\nFirst server rules.');

    writeFileSync(configPath, JSON.stringify(config(['first', 'second'], 'After.')));
    await waitFor(() => hub.hub.config.virtualServers.get('work')?.upstreams.length === 2, 10_000, 'the reload');
    assert.equal(await instructionsAt(hub, 'work'), 'After.\n\n## first (tools named first__<tool>)\n\nFirst server rules.\n\n## second (tools named second__<tool>)\n\nSecond server rules.');
  });
});
