/** Types of bench/ratios.mjs (plain JavaScript, shared by the shell and the tsx benches). */
export interface RatioRow {
  name: string;
  plugin: string;
  baseline: string;
  pluginValue: number;
  baselineValue: number;
  target: number;
  unit?: string;
  runs: number;
}
export const RATIOS_DIR: string;
export function hyperfineMedian(jsonFile: string, command: string | number): { command: string; median: number; runs: number };
export function recordRatio(row: RatioRow): RatioRow & { ratio: number; pass: boolean };
export function readRatios(names?: string[]): Array<(RatioRow & { ratio: number; pass: boolean; missing?: false }) | { name: string; missing: true }>;
export function ratioTable(rows: ReturnType<typeof readRatios>): { text: string; ok: boolean };
