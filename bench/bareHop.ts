/**
 * The floor of one Node hop: a transparent keep-alive reverse proxy written with `node:http`
 * alone (`startProxy`), in front of the bench upstream. It parses nothing and checks nothing;
 * what the hub costs above it is the hub's own work. `node out/bench/bareHop.js --target URL`
 * prints `{"event":"ready","url":...}` and exits when stdin closes or on SIGTERM.
 */
import { Agent } from 'node:http';
import { startProxy } from '../test/support/authProxy';

async function main(): Promise<void> {
  const target = new URL(process.argv[process.argv.indexOf('--target') + 1] ?? '');
  const proxy = await startProxy(target.origin, { agent: new Agent({ keepAlive: true }) });
  process.stdout.write(`${JSON.stringify({ event: 'ready', url: `${proxy.url}${target.pathname}` })}\n`);
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

void main();
