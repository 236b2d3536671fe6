/**
 * Mocha root-hook plugin (registered in .mocharc.json "require"): stops the embedded PostgreSQL
 * servers the test files started, once every suite has run, and removes their data directories and
 * every temporary directory the harness made (each e2e world stages a 105 MiB copy of the binary:
 * left behind, a run leaks gigabytes).
 */
import { removeTempDirs } from './plugin.js';
import { stopAllServers } from './postgres.js';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopAllServers();
    removeTempDirs();
  },
};
