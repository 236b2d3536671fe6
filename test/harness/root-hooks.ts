/**
 * Mocha root-hook plugin (registered in .mocharc.json "require"): stops the embedded PostgreSQL
 * servers the test files started, once every suite has run, and removes their data directories.
 */
import { stopAllServers } from './postgres.js';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopAllServers();
  },
};
