/**
 * External tools the tests shell out to. Locally a missing tool skips the
 * tests that need it; in CI (`CI=true`) it is an error, so that a broken CI
 * image cannot turn into a run of silently skipped tests.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const found = new Map<string, boolean>();

function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** True when `name` is an executable on PATH. Cached per process. */
export function hasTool(name: string): boolean {
  let has = found.get(name);
  if (has === undefined) {
    has = onPath(name);
    found.set(name, has);
  }
  return has;
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
