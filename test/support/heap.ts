import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// A heap figure means little with garbage still in it, and mocha runs without --expose-gc.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** The heap in use after full collections (three: what one frees can free more). */
export function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) collectGarbage();
  return process.memoryUsage().heapUsed;
}
