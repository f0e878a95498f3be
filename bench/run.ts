/**
 * `npm run bench [-- --quick ...]`: the gateway comparison (`hubVsDirect`), then the per-session
 * instance figures (`perSession`), one after the other so neither loads the machine for the
 * other. Options go to the first; `--quick` to both.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const args = process.argv.slice(2);
const steps: Array<[string, string[]]> = [
  ['hubVsDirect.js', args],
  ['perSession.js', args.includes('--quick') ? ['--quick'] : []],
];
for (const [script, scriptArgs] of steps) {
  const { status, signal } = spawnSync(process.execPath, [join(__dirname, script), ...scriptArgs], { stdio: 'inherit' });
  if (status !== 0) {
    process.stderr.write(`bench: ${script} ${signal ? `was killed by ${signal}` : `exited with ${status}`}\n`);
    process.exit(status ?? 1);
  }
}
