/**
 * Smoke test of `peers.ts`: starts each peer gateway in front of the stdio bench upstream,
 * opens 3 concurrent SDK sessions, calls echo 50 times on each, stops the peer and checks that
 * no process it spawned is left. Not a benchmark: the wall time only says it is not absurd.
 *
 *   node out/bench/peersSmoke.js [mcp-proxy,supergateway,mcp-hub]
 *
 * Exits 1 if a peer fails or leaves a process behind.
 */
import { join } from 'node:path';
import { descendantsOf, processState } from '../test/support/processes';
import { connectBenchClient, type BenchClient } from './benchClient';
import { peerNames, startPeer, type PeerName, type RunningPeer } from './peers';

const sessions = 3;
const callsPerSession = 50;
const upstream = { command: process.execPath, args: [join(__dirname, 'upstream.js'), '--stdio'] };

type Line = { peer: PeerName; status: string };

async function smoke(name: PeerName): Promise<{ line: string; ok: boolean }> {
  const started = performance.now();
  let peer: RunningPeer;
  try {
    peer = await startPeer(name, upstream);
  } catch (error) {
    return { line: `${name}: skipped: ${error instanceof Error ? error.message : String(error)}`, ok: false };
  }
  const readyMs = performance.now() - started;
  const tree = new Set<number>([peer.pid]);
  let ok = 0;
  let errors = 0;
  let firstError = '';
  let wallMs = 0;
  let childrenOpen = 0;
  try {
    const connections: BenchClient[] = await Promise.all(Array.from({ length: sessions }, () => connectBenchClient(peer.url, peer.transport, peer.headers)));
    for (const pid of peer.descendants()) tree.add(pid);
    childrenOpen = peer.descendants().length;
    const callStart = performance.now();
    await Promise.all(
      connections.map(async ({ client }, index) => {
        for (let i = 0; i < callsPerSession; i++) {
          const text = `s${index}-${i}`;
          try {
            const result = (await client.callTool({ name: peer.tool, arguments: { text } })) as { content?: Array<{ text?: string }>; isError?: boolean };
            if (!result.isError && result.content?.[0]?.text === text) ok++;
            else throw new Error(`unexpected result ${JSON.stringify(result).slice(0, 200)}`);
          } catch (error) {
            errors++;
            firstError ||= error instanceof Error ? error.message : String(error);
          }
        }
      }),
    );
    wallMs = performance.now() - callStart;
    for (const pid of peer.descendants()) tree.add(pid);
    await Promise.all(connections.map((c) => c.close()));
  } catch (error) {
    errors++;
    firstError ||= error instanceof Error ? error.message : String(error);
  }
  for (const pid of peer.descendants()) tree.add(pid);
  const stopStart = performance.now();
  await peer.stop();
  const stopMs = performance.now() - stopStart;
  const left = [...new Set([...tree].filter((pid) => processState(pid) === 'alive').concat(descendantsOf(process.pid).filter((pid) => processState(pid) === 'alive')))];
  const leak = left.length ? `LEFT BEHIND: ${left.join(', ')}` : `none left (${tree.size} seen)`;
  const line =
    `${name} ${peer.version}: ${peer.transport} ${peer.url}, tool '${peer.tool}', childPerSession ${peer.childPerSession}, ` +
    `peer children with ${sessions} sessions open: ${childrenOpen}\n` +
    `  calls ${ok} ok / ${errors} errors${firstError ? ` (first: ${firstError})` : ''}; ready ${readyMs.toFixed(0)} ms, ` +
    `${sessions}x${callsPerSession} calls ${wallMs.toFixed(0)} ms wall, stop ${stopMs.toFixed(0)} ms; processes after stop: ${leak}\n` +
    `  args: ${peer.args.join(' ')}`;
  return { line, ok: errors === 0 && ok === sessions * callsPerSession && left.length === 0 };
}

async function main(): Promise<void> {
  const wanted = (process.argv[2] ?? peerNames.join(',')).split(',') as PeerName[];
  const unknown = wanted.filter((n) => !peerNames.includes(n));
  if (unknown.length) throw new Error(`unknown peers: ${unknown.join(', ')}; known: ${peerNames.join(', ')}`);
  const lines: Line[] = [];
  let failed = false;
  for (const name of wanted) {
    const { line, ok } = await smoke(name);
    console.log(line);
    lines.push({ peer: name, status: ok ? 'ok' : 'FAILED' });
    failed ||= !ok;
  }
  console.log(lines.map((l) => `${l.peer}: ${l.status}`).join(', '));
  process.exitCode = failed ? 1 : 0;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
