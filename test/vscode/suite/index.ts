/**
 * Mocha inside a real VS Code extension host: @vscode/test-electron's `extensionTestsPath` on a
 * desktop VS Code, or code-server's smoke-test driver here (test/e2e). It prints one
 * "N passed, N failed" line for the driver that waits outside.
 */
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: false });
  mocha.addFile(path.join(__dirname, 'extension.test.js'));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => {
      const passed = mocha.suite.total() - failures;
      console.log(`${passed} passed, ${failures} failed`);
      if (failures > 0) reject(new Error(`${failures} tests failed`));
      else resolve();
    });
  });
}
