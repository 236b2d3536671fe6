/**
 * A track's migration files on disk, read the way its tool reads them: the top level of one
 * directory (subdirectories skipped, symlinks to files followed). With several tracks in one
 * directory each lives in DIR/TRACK; a tool may name a subdirectory read instead when it exists
 * (alembic: a script directory, the one holding env.py, is read through its versions/).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../core/errors.js';
import type { MigrationFile, MigrationFilesPort } from '../core/ports.js';

const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);

export function createMigrationFiles(): MigrationFilesPort {
  return {
    async read(dir, { track, several, filesIn }) {
      if (!(await isDir(dir))) throw new UsageError(`migrations directory ${dir}: no such directory`, { hint: 'give --migrations the directory of the migration files' });
      let where = dir;
      if (await isDir(path.join(dir, track))) where = path.join(dir, track);
      else if (several) {
        throw new UsageError(`migrations directory ${dir} has no ${track}/ for track ${track}`, { hint: 'with several tracks, DIR holds one directory per track (named like the track), or give --migrations TRACK=DIR' });
      }
      if (filesIn !== undefined && (await isDir(path.join(where, filesIn)))) where = path.join(where, filesIn);
      return { origin: where, files: await readTopLevel(where) };
    },
  };
}

async function readTopLevel(dir: string): Promise<MigrationFile[]> {
  const files: MigrationFile[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const isFile = entry.isFile() || (entry.isSymbolicLink() && (await stat(full).then((s) => s.isFile(), () => false)));
    if (isFile) files.push({ name: entry.name, body: await readFile(full, 'utf8') });
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
