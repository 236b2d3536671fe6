/** Chart.yaml of a chart directory on disk (annotate, verify). */
import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../core/errors.js';
import type { ChartFilesPort } from '../core/ports.js';

export function createChartFiles(): ChartFilesPort {
  return {
    async readChartYaml(chartDir) {
      // A path to Chart.yaml itself is accepted too.
      const file = path.basename(chartDir) === 'Chart.yaml' ? chartDir : path.join(chartDir, 'Chart.yaml');
      try {
        return { path: file, text: await readFile(file, 'utf8') };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new UsageError(`${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { hint: 'give the chart directory (the one holding Chart.yaml)' });
      }
    },
    async writeChartYaml(file, text) {
      // Same directory, then rename: a crash leaves the old file or the new one, never half of it.
      const mode = (await stat(file)).mode & 0o777;
      const temp = path.join(path.dirname(file), `.Chart.yaml.${randomBytes(4).toString('hex')}.tmp`);
      await writeFile(temp, text, { mode });
      await rename(temp, file);
    },
  };
}
