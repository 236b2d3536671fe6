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

/** The versions a chart directory's versions.yaml lists; the chart as it is when it has none. */
function versionsOf(chartDir: string): ChartVersion[] {
  const versionsFile = join(chartDir, 'versions.yaml');
  return existsSync(versionsFile) ? (parse(readFileSync(versionsFile, 'utf8'), { merge: true }) as ChartVersion[]) : [{ version: '' }];
}

/**
 * Writes one chart directory per version under outDir (outDir/NAME-VERSION) and returns their paths.
 * `versions` instead of the chart's versions.yaml: one chart published with each test's annotations.
 */
export function materializeChartVersions(chartDir: string, outDir: string, versions: readonly ChartVersion[] = versionsOf(chartDir)): string[] {
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
