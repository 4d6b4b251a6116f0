/**
 * The binpkgs of a PKGDIR, in both layouts Portage writes:
 *
 *   ${PKGDIR}/${CATEGORY}/${PN}/${PF}-${BUILD_ID}.gpkg.tar | .xpak   (binpkg-multi-instance)
 *   ${PKGDIR}/${CATEGORY}/${PF}.gpkg.tar | .tbz2                      (classic)
 *
 * plus the old `All/` directory. Symlinks are never followed (old PKGDIRs
 * link `CATEGORY/x.tbz2 -> ../All/x.tbz2`; the real file is found in All/).
 * The `Packages` index, when present, is read to report entries whose file
 * is missing and to attach CPV and BUILD_ID; the directory walk decides
 * what exists, so a stale or absent index loses nothing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';
import { type BinpkgFormat, formatFromName } from './binpkg.js';
import { type PackagesIndexEntry, parsePackagesIndex } from './packages-index.js';

export interface PkgdirBinpkg {
  /** Absolute path. */
  path: string;
  /** Relative to PKGDIR. */
  relPath: string;
  format: BinpkgFormat;
  size: number;
  /** The Packages stanza that names this file, if any. */
  index: PackagesIndexEntry | undefined;
}

export interface PkgdirListing {
  pkgdir: string;
  /** In byte order of their relative paths. */
  binpkgs: PkgdirBinpkg[];
  /** Binpkg-looking names that were not taken, with why (symlinks out of PKGDIR, odd types). */
  skipped: { path: string; reason: string }[];
  hasIndex: boolean;
  /** Index stanzas whose file is absent or unusable. */
  missing: { entry: PackagesIndexEntry; reason: string }[];
}

/** Depth of binpkg files below PKGDIR: CATEGORY/file or CATEGORY/PN/file. */
const MAX_DEPTH = 3;

export async function listPkgdir(dir: string): Promise<PkgdirListing> {
  const pkgdir = path.resolve(dir);
  const st = await fs.stat(pkgdir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new PackdebugError('E_INPUT', `${dir}: no such PKGDIR`, { file: dir });
    throw fromSystemError(err, dir, 'reading the PKGDIR');
  });
  if (!st.isDirectory()) throw new PackdebugError('E_INPUT', `${dir}: not a directory`, { file: dir });

  const binpkgs: PkgdirBinpkg[] = [];
  const skipped: PkgdirListing['skipped'] = [];
  const aliases = new Map<string, string>();
  const visit = async (rel: string, depth: number): Promise<void> => {
    const abs = path.join(pkgdir, rel);
    let entries;
    try {
      entries = await fs.readdir(abs, { withFileTypes: true });
    } catch (err) {
      throw fromSystemError(err, abs, 'reading the PKGDIR');
    }
    for (const d of entries) {
      // Hidden names: Portage's and fetchers' partial files, never finished binpkgs.
      if (d.name.startsWith('.')) continue;
      const childRel = rel === '' ? d.name : `${rel}/${d.name}`;
      const childAbs = path.join(pkgdir, childRel);
      const format = formatFromName(d.name);
      if (d.isSymbolicLink()) {
        if (format === undefined) continue;
        // Inside PKGDIR a link is an alias of a file the walk finds anyway (old All/ layout); outside it, refused.
        const real = await fs.realpath(childAbs).catch(() => undefined);
        const realRel = real === undefined ? undefined : path.relative(pkgdir, real);
        if (realRel !== undefined && !realRel.startsWith('..') && !path.isAbsolute(realRel))
          aliases.set(childRel, realRel.split(path.sep).join('/'));
        else
          skipped.push({
            path: childAbs,
            reason: real === undefined ? 'dangling symlink' : 'symlink out of the PKGDIR (not followed)',
          });
        continue;
      }
      if (d.isDirectory()) {
        if (depth + 1 < MAX_DEPTH) await visit(childRel, depth + 1);
        continue;
      }
      if (format === undefined || depth === 0) continue;
      if (!d.isFile()) {
        skipped.push({ path: childAbs, reason: 'not a regular file' });
        continue;
      }
      const fst = await fs.lstat(childAbs).catch(() => undefined);
      if (fst === undefined || !fst.isFile()) continue;
      binpkgs.push({ path: childAbs, relPath: childRel, format, size: fst.size, index: undefined });
    }
  };
  await visit('', 0);
  binpkgs.sort((a, b) => Buffer.compare(Buffer.from(a.relPath), Buffer.from(b.relPath)));

  const missing: PkgdirListing['missing'] = [];
  const indexFile = path.join(pkgdir, 'Packages');
  const indexStat = await fs.lstat(indexFile).catch(() => undefined);
  const hasIndex = indexStat?.isFile() === true;
  if (hasIndex) {
    let text: string;
    try {
      text = await fs.readFile(indexFile, 'utf8');
    } catch (err) {
      throw fromSystemError(err, indexFile, 'reading the Packages index');
    }
    const byPath = new Map(binpkgs.map((b) => [b.relPath, b]));
    for (const entry of parsePackagesIndex(text).entries) {
      const rel = path.posix.normalize(entry.path);
      if (path.posix.isAbsolute(rel) || rel.split('/').includes('..')) {
        missing.push({ entry, reason: `PATH '${entry.path}' leads out of the PKGDIR` });
        continue;
      }
      const found = byPath.get(aliases.get(rel) ?? rel);
      if (found) found.index = entry;
      else missing.push({ entry, reason: `${entry.path}: listed in Packages but not found (or a symlink)` });
    }
  }
  return { pkgdir, binpkgs, skipped, hasIndex, missing };
}
