/**
 * Placeholders in contract values, e.g. "deployment/{{ .Fullname }}-controller". Chart.yaml is not
 * templated by Helm, so release-specific names need our own substitution. The syntax borrows Helm's
 * spelling so chart maintainers read it at once, but it is plain substitution: no functions, no pipes.
 */

export const NAME_PLACEHOLDERS = ['Release.Name', 'Release.Namespace', 'Chart.Name', 'Fullname'] as const;
export const COMMAND_PLACEHOLDERS = [...NAME_PLACEHOLDERS, 'Revision', 'Track', 'Table', 'Schema'] as const;

const PLACEHOLDER = /\{\{-?\s*\.([A-Za-z][\w.]*)\s*-?\}\}/g;

/** Names used in the text that are not in `allowed`, and stray braces. */
export function templateProblems(text: string, allowed: readonly string[]): string[] {
  const problems: string[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (!allowed.includes(m[1]!)) {
      problems.push(`unknown placeholder {{ .${m[1]} }} (known: ${allowed.map((a) => `{{ .${a} }}`).join(', ')})`);
    }
  }
  if (text.replace(PLACEHOLDER, '').includes('{{')) problems.push(`malformed placeholder in ${JSON.stringify(text)}`);
  return problems;
}

/** Substitutes every placeholder; a name missing from vars is a bug in the caller, so it throws. */
export function renderTemplate(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(PLACEHOLDER, (_all, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`template: no value for {{ .${name} }}`);
    return value;
  });
}

/**
 * The name `helm create`'s "<chart>.fullname" helper gives, which most charts use for their objects:
 * fullnameOverride, else the release name when it already contains the chart name (or nameOverride),
 * else "<release>-<name>"; cut to 63 characters without a trailing dash.
 */
export function chartFullname(release: string, chart: string, values: Record<string, unknown>): string {
  const cut = (s: string) => s.slice(0, 63).replace(/-+$/, '');
  const override = values['fullnameOverride'];
  if (typeof override === 'string' && override !== '') return cut(override);
  const nameOverride = values['nameOverride'];
  const name = typeof nameOverride === 'string' && nameOverride !== '' ? nameOverride : chart;
  return release.includes(name) ? cut(release) : cut(`${release}-${name}`);
}
