/**
 * Publishes every version of a fixture chart: a chart directory holds the templates once and a
 * versions.yaml lists each version with its own Chart.yaml annotations (the revisions that version
 * ships). Chart.yaml is edited as a YAML document so comments and order survive.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse, parseDocument } from 'yaml';

export interface ChartVersion {
  version: string;
  appVersion?: string;
  annotations?: Record<string, string>;
}

export const FIXTURE_CHARTS = join(import.meta.dirname, '..', 'fixtures', 'charts');

/** Writes one chart directory per version under outDir (outDir/NAME-VERSION) and returns their paths. */
export function materializeChartVersions(chartDir: string, outDir: string): string[] {
  const versionsFile = join(chartDir, 'versions.yaml');
  const versions = existsSync(versionsFile) ? (parse(readFileSync(versionsFile, 'utf8'), { merge: true }) as ChartVersion[]) : [{ version: '' }];
  return versions.map((v) => {
    const dir = join(outDir, `${basename(chartDir)}-${v.version || 'as-is'}`);
    mkdirSync(dir, { recursive: true });
    cpSync(chartDir, dir, { recursive: true, filter: (src) => basename(src) !== 'versions.yaml' });
    if (v.version) {
      const doc = parseDocument(readFileSync(join(dir, 'Chart.yaml'), 'utf8'));
      doc.set('version', v.version);
      if (v.appVersion) doc.set('appVersion', v.appVersion);
      if (v.annotations) doc.set('annotations', v.annotations);
      writeFileSync(join(dir, 'Chart.yaml'), doc.toString());
    }
    return dir;
  });
}
