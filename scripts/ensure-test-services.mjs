// Before `npm test`: the one system package the tests start themselves, Debian's redis-server
// (the tests of ownership shared by two hubs). Installed with apt-get where it is missing and this
// is a Debian machine we may install on (root); elsewhere it says what to install, and the Redis
// tests fail with the same words.
import { spawnSync } from 'node:child_process';

const has = (command, args = ['--version']) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;

if (!has('redis-server')) {
  const canInstall = process.getuid?.() === 0 && has('apt-get', ['--version']);
  if (!canInstall) {
    console.warn('redis-server is not installed: install Debian\'s redis-server package (apt-get install redis-server) for the Redis tests');
  } else {
    console.log('installing redis-server (Debian package) for the Redis tests…');
    for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'redis-server']]) {
      const run = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (run.status !== 0) {
        console.warn(`apt-get ${args.join(' ')} failed (${run.status}); the Redis tests will say what is missing`);
        break;
      }
    }
  }
}
