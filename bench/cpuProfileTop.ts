/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): top functions by self time, time by
 * module (hub source, each npm package, node internals), and inclusive time of chosen functions.
 *
 *   node out/bench/cpuProfileTop.js FILE.cpuprofile [--top 30] [--inclusive forward,request,...]
 *                                   [--callers fnName] (who calls fnName, by its inclusive time)
 *
 * Percentages are of busy samples: idle, and (program)/(garbage collector) are listed apart.
 */
import { readFileSync } from 'node:fs';

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

const pseudoFunctions = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

function frameKey(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  return `${name}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

/** `.../node_modules/@scope/pkg/dist/x.js` → `@scope/pkg/dist/x.js`; hub output → `out/...`. */
function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length);
  const out = path.indexOf('/out/');
  return out >= 0 ? path.slice(out + 1) : path;
}

function moduleOf(frame: CallFrame): string {
  if (pseudoFunctions.has(frame.functionName) && !frame.url) return frame.functionName;
  const url = frame.url.replace(/^file:\/\//, '');
  if (!url) return '(native / V8 builtins)';
  if (url.startsWith('node:')) return url.startsWith('node:internal/deps/undici') ? 'node: undici (fetch)' : `node: ${url.split('/')[1] ?? url}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const out = url.indexOf('/out/');
  return out >= 0 ? `hub: ${url.slice(out + 1)}` : url;
}

/** Microseconds attributed to each sample: V8's delta i is the time before sample i. */
function sampleTimes(profile: Profile): number[] {
  return profile.samples.map((_, i) => Math.max(0, profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0));
}

function addTo(map: Map<string, number>, key: string, value: number): void {
  map.set(key, (map.get(key) ?? 0) + value);
}

function top(map: Map<string, number>, count: number): [string, number][] {
  return [...map].sort((a, b) => b[1] - a[1]).slice(0, count);
}

/** The 6 frames above the innermost `name` frame of this sample's stack, as one line. */
function addCallerChain(
  chains: Map<string, number>,
  name: string,
  leaf: number,
  nodes: Map<number, ProfileNode>,
  parent: Map<number, number>,
  us: number,
): void {
  let at: number | undefined = leaf;
  while (at !== undefined && nodes.get(at)!.callFrame.functionName !== name) at = parent.get(at);
  if (at === undefined) return;
  const chain: string[] = [];
  for (let up = parent.get(at); up !== undefined && chain.length < 6; up = parent.get(up)) chain.push(frameKey(nodes.get(up)!.callFrame));
  addTo(chains, chain.join(' < '), us);
}

function main(): void {
  const [file, ...rest] = process.argv.slice(2);
  if (!file) throw new Error('usage: cpuProfileTop FILE.cpuprofile [--top N] [--inclusive a,b]');
  const topIndex = rest.indexOf('--top');
  const count = topIndex >= 0 ? Number(rest[topIndex + 1]) : 30;
  const incIndex = rest.indexOf('--inclusive');
  const inclusiveNames = incIndex >= 0 ? rest[incIndex + 1].split(',') : [];
  const callersIndex = rest.indexOf('--callers');
  const callersOf = callersIndex >= 0 ? rest[callersIndex + 1] : undefined;
  const callerChains = new Map<string, number>();

  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const self = new Map<string, number>();
  const modules = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const times = sampleTimes(profile);
  let busy = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id)!.callFrame;
    total += times[i];
    if (frame.functionName === '(idle)') return;
    busy += times[i];
    addTo(self, frameKey(frame), times[i]);
    addTo(modules, moduleOf(frame), times[i]);
    // Inclusive: each named function counts once per sample, however often it is on the stack.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = nodes.get(at)!.callFrame.functionName;
      if (inclusiveNames.includes(name)) seen.add(name);
    }
    for (const name of seen) addTo(inclusive, name, times[i]);
    if (callersOf) addCallerChain(callerChains, callersOf, id, nodes, parent, times[i]);
  });

  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  console.log(`profile: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)}%); % of busy\n`);
  console.log('self time by module:');
  for (const [name, us] of top(modules, 15)) console.log(`  ${pct(us)}  ${name}`);
  console.log(`\ntop ${count} functions by self time:`);
  for (const [name, us] of top(self, count)) console.log(`  ${pct(us)}  ${name}`);
  if (inclusiveNames.length) {
    console.log('\ninclusive (synchronous) time:');
    for (const name of inclusiveNames) console.log(`  ${pct(inclusive.get(name) ?? 0)}  ${name}`);
  }
  if (callersOf) {
    console.log(`\ncallers of ${callersOf} (nearest first):`);
    for (const [chain, us] of top(callerChains, 12)) console.log(`  ${pct(us)}  ${chain}`);
  }
}

main();
