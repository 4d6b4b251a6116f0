import path from 'node:path';
import { PackdebugError } from '../errors.js';

/** Where Portage's packdebug (and we) put debug tarballs, relative to ${ED}. */
export const TARBALL_DIR = 'usr/lib/debug/.tarball';

/** The debug roots, in the order Portage packs them (sources first). */
export const DEBUG_ROOTS = ['usr/src/debug', 'usr/lib/debug'] as const;

export interface PackageIdentity {
  category: string;
  pn: string;
  pf: string;
  buildId: string;
}

const CATEGORY_RE = /^[A-Za-z0-9_][A-Za-z0-9+_.-]*$/;
const PN_RE = /^[A-Za-z0-9_][A-Za-z0-9+_-]*$/;

/** Rejects names that would not make a single safe path component. */
export function validateIdentity(id: PackageIdentity): void {
  const bad = (what: string, value: string, why: string) =>
    new PackdebugError('E_USAGE', `invalid ${what} '${value}': ${why}`);
  if (!CATEGORY_RE.test(id.category)) throw bad('CATEGORY', id.category, 'not a PMS category name');
  if (!PN_RE.test(id.pn)) throw bad('PN', id.pn, 'not a PMS package name');
  if (!id.pf.startsWith(`${id.pn}-`) || id.pf.includes('/') || id.pf === `${id.pn}-`) {
    throw bad('PF', id.pf, `must be ${id.pn}-VERSION`);
  }
  if (!/^[0-9]+$/.test(id.buildId)) throw bad('BUILD_ID', id.buildId, 'must be a non-negative integer (binpkg-multi-instance)');
}

/** `CAT/PN/PF-BUILD_ID-debug.tar.xz`, the path below the .tarball directory. */
export function tarballRelativePath(id: PackageIdentity): string {
  return path.posix.join(id.category, id.pn, `${id.pf}-${id.buildId}-debug.tar.xz`);
}

/** Default output path for an image: `${ED}/usr/lib/debug/.tarball/CAT/PN/PF-N-debug.tar.xz`. */
export function defaultTarballPath(image: string, id: PackageIdentity): string {
  return path.join(image, TARBALL_DIR, tarballRelativePath(id));
}
