/**
 * The installed-package database (VDB, `${EROOT}/var/db/pkg`): one
 * directory `CATEGORY/PF` per installed package; binpkg-multi-instance
 * records the build in a `BUILD_ID` file inside it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fromSystemError, PackdebugError } from '../errors.js';
import { readSmallFile } from '../util/regular-file.js';
import { CATEGORY_RE } from './naming.js';

export interface InstalledPackages {
  /** `CATEGORY/PF` -> the recorded BUILD_ID (digits, leading zeros dropped), or null when none is recorded. */
  readonly byCpv: ReadonlyMap<string, string | null>;
}

/** BUILD_IDs compare as integers: `01` and `1` are the same build. */
export function canonicalBuildNumber(id: string): string {
  return id.replace(/^0+(?=\d)/, '');
}

/**
 * Reads the VDB. Entries Portage is in the middle of merging (`-MERGING-*`)
 * and hidden names are skipped; symlinks are not followed.
 */
export async function readInstalled(vdb: string): Promise<InstalledPackages> {
  const st = await fs.stat(vdb).catch((err: unknown) => {
    throw new PackdebugError('E_INPUT', `${vdb}: cannot read the package database (--vdb): ${(err as Error).message}`, {
      file: vdb,
    });
  });
  if (!st.isDirectory()) throw new PackdebugError('E_INPUT', `${vdb}: not a directory (--vdb)`, { file: vdb });
  const byCpv = new Map<string, string | null>();
  const list = async (dir: string) => {
    try {
      return await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw fromSystemError(err, dir, 'reading the package database');
    }
  };
  for (const cat of await list(vdb)) {
    if (!cat.isDirectory() || !CATEGORY_RE.test(cat.name) || cat.name.startsWith('-')) continue;
    const catDir = path.join(vdb, cat.name);
    for (const pkg of await list(catDir)) {
      if (!pkg.isDirectory() || pkg.name.startsWith('-') || pkg.name.startsWith('.')) continue;
      // A BUILD_ID that is not a small regular file (a FIFO, a symlink, a huge file) records nothing:
      // every build of the version then counts as installed, which only keeps tarballs.
      const raw = await readSmallFile(path.join(catDir, pkg.name, 'BUILD_ID')).catch(() => undefined);
      const id = raw?.trim();
      byCpv.set(`${cat.name}/${pkg.name}`, id && /^\d+$/.test(id) ? canonicalBuildNumber(id) : null);
    }
  }
  return { byCpv };
}

/**
 * A tarball belongs to an installed version when CATEGORY/PF is installed
 * and, if the VDB records a BUILD_ID, it is the tarball's.
 */
export function isInstalled(installed: InstalledPackages, category: string, pf: string, buildNumber: string): boolean {
  const recorded = installed.byCpv.get(`${category}/${pf}`);
  if (recorded === undefined) return false;
  return recorded === null || recorded === canonicalBuildNumber(buildNumber);
}
