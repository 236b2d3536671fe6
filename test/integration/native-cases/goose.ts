/** goose's case for the native conformance suite: `-- +goose Up/Down` files, goose's own bookkeeping (no CLI here). */
import { gooseNative } from '../../../src/tools/goose-native.js';
import { gooseUp } from '../../harness/goose-up.js';
import { query } from '../../harness/postgres.js';
import type { ConformanceCase } from './types.js';

const versions = ['1', '2', '3', '4'];

export const gooseCase: ConformanceCase = {
  tool: 'goose',
  driver: gooseNative,
  table: 'goose_db_version',
  files: (options = {}) =>
    versions.map((v) => ({
      name: `0000${v}_create_t_${v}.sql`,
      body:
        `-- +goose Up\nCREATE TABLE t_${v} (id int PRIMARY KEY, note text);\n\n-- +goose Down\n` +
        (options.failingDownOf === v ? `DROP TABLE t_${v};\nSELECT 1 / 0;\n` : `DROP TABLE t_${v};\n`),
    })),
  versions,
  migrateUp: (url, files, version) => gooseUp(url, files, version),
  readRows: (url) => query(url, 'SELECT version_id::text AS version_id, is_applied FROM goose_db_version ORDER BY id'),
  rowsAt: (version) => ['0', ...versions.slice(0, version === null ? 0 : versions.indexOf(version) + 1)].map((v) => ({ version_id: v, is_applied: true })),
  marksDirty: false,
};
