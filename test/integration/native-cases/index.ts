/** Every native driver's conformance case; test/integration/native-conformance.test.ts runs each on every tested PostgreSQL major. */
import { golangMigrateCase } from './golang-migrate.js';
import type { ConformanceCase } from './types.js';

export const conformanceCases: readonly ConformanceCase[] = [golangMigrateCase];
