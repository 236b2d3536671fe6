/** Every native driver's conformance case; test/integration/native-conformance.test.ts runs each on every tested PostgreSQL major. */
import { dbmateCase } from './dbmate.js';
import { golangMigrateCase } from './golang-migrate.js';
import { gooseCase } from './goose.js';
import { nodePgMigrateCase } from './node-pg-migrate.js';
import { sqlMigrateCase } from './sql-migrate.js';
import type { ConformanceCase } from './types.js';

export const conformanceCases: readonly ConformanceCase[] = [golangMigrateCase, gooseCase, dbmateCase, sqlMigrateCase, nodePgMigrateCase];
