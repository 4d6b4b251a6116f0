/**
 * External tools the tests shell out to. Locally a missing tool skips the
 * tests that need it; in CI (`CI=true`) it is an error, so that a broken CI
 * image cannot turn into a run of silently skipped tests.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const found = new Map<string, string | undefined>();

/**
 * Daemons Debian installs in an sbin directory, which a non-root user's PATH
 * usually lacks (nginx is /usr/sbin/nginx); looked for there after PATH.
 */
const SBIN_DIRS: Record<string, string[]> = {
  nginx: ['/usr/sbin', '/usr/local/sbin', '/sbin'],
};

function locate(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...(SBIN_DIRS[name] ?? [])];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The path of the executable `name` (on PATH, or for nginx in an sbin directory), or undefined. Cached. */
export function toolPath(name: string): string | undefined {
  if (!found.has(name)) found.set(name, locate(name));
  return found.get(name);
}

/** True when `name` is an executable on PATH (nginx: or in an sbin directory). Cached per process. */
export function hasTool(name: string): boolean {
  return toolPath(name) !== undefined;
}

/**
 * Like {@link hasTool}, but throws in CI when the tool is missing.
 * Use as `const has = requireTool('xz'); it.skipIf(!has)(...)`.
 */
export function requireTool(name: string): boolean {
  if (hasTool(name)) return true;
  if (process.env.CI === 'true') {
    throw new Error(`missing tool ${name}: install it (see .ci/run)`);
  }
  return false;
}

/**
 * lzma-native is made unloadable (PACKDEBUG_LZMA_NATIVE=0, the second run of .ci/run): what needs an
 * in-process decoder without xz(1) then fails with the error that names app-arch/xz-utils instead.
 */
export const LZMA_NATIVE_OFF = process.env['PACKDEBUG_LZMA_NATIVE'] === '0';

/** The one-line error of a decode or encode with neither xz(1) nor lzma-native. */
export const NO_XZ_BACKEND = /no usable xz\(1\).*lzma-native is unavailable.*install app-arch\/xz-utils/;
