/**
 * The floor of one Node hop: a transparent keep-alive reverse proxy written with `node:http`
 * alone, in front of the bench upstream. It parses nothing and checks nothing; what the hub
 * costs above it is the hub's own work. `node out/bench/bareHop.js --target URL` prints
 * `{"event":"ready","url":...}` and exits when stdin closes or on SIGTERM.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const targetArg = process.argv.indexOf('--target');
const target = new URL(process.argv[targetArg + 1] ?? '');
const agent = new Agent({ keepAlive: true });

const server = createServer((req, res) => {
  const forwarded = request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host }, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  forwarded.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(forwarded);
});
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ event: 'ready', url: `http://127.0.0.1:${port}${target.pathname}` })}\n`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
