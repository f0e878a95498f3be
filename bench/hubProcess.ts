/**
 * A hub in its own process for the benchmark: `node out/bench/hubProcess.js <upstream url>`
 * with the client token in HUB_BENCH_TOKEN and the admin token in HUB_BENCH_ADMIN_TOKEN. The hub has one shared `http` connection to the
 * upstream (id `up`), or the config in HUB_BENCH_CONFIG (JSON) when that is set. Prints
 * `{"event":"ready","url":...}` once its upstreams are ready and exits 0 on SIGTERM/SIGINT or
 * stdin end, so `node --cpu-prof` can write its profile.
 *
 * Its own process keeps the load generator's CPU out of the hub's event loop and profile.
 */
import { validateConfig } from '../src/core/config/config';
import { silentLogger } from '../src/core/infra/logger';
import { runHub } from '../src/http/runHub';
import { exitWhenTold } from './upstream';

const readyTimeoutMs = 10_000;

async function waitForUpstreams(isReady: () => boolean): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  while (!isReady()) {
    if (Date.now() > deadline) throw new Error(`upstream not ready after ${readyTimeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function main(): Promise<void> {
  const upstreamUrl = process.argv[2];
  const token = process.env.HUB_BENCH_TOKEN;
  const adminToken = process.env.HUB_BENCH_ADMIN_TOKEN;
  const configJson = process.env.HUB_BENCH_CONFIG;
  if ((!upstreamUrl && !configJson) || !token || !adminToken) {
    throw new Error('usage: HUB_BENCH_TOKEN=... HUB_BENCH_ADMIN_TOKEN=... [HUB_BENCH_CONFIG=json] node hubProcess.js [<upstream url>]');
  }
  const raw: unknown = configJson ? JSON.parse(configJson) : { servers: { up: { type: 'http', url: upstreamUrl } } };
  const config = validateConfig(raw, 'HUB_BENCH_CONFIG');
  const running = await runHub({ config, token, adminToken, logger: silentLogger, port: 0 });
  exitWhenTold(() => running.close());
  await waitForUpstreams(() => running.hub.state().upstreams.every((u) => u.state === 'ready'));
  process.stdout.write(`${JSON.stringify({ event: 'ready', url: running.gateway.url })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench hub failed: ${String(error)}\n`);
  process.exit(1);
});
