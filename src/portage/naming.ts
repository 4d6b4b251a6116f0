import path from 'node:path';
import { PackdebugError } from '../errors.js';
import { parseVersion, type PmsVersion, VERSION_RE } from './version.js';

/** Where Portage's packdebug (and we) put debug tarballs, relative to ${ED}. */
export const TARBALL_DIR = 'usr/lib/debug/.tarball';

/**
 * The build-id index of a tree (src/mirror, docs/index-format.md) lives in
 * this directory at its top: not a CATEGORY, and never a tarball
 * (nothing in it ends with .tar.xz, so debuginfod's -Z .tar.xz scan skips it too).
 */
export const INDEX_DIR = '.packdebug-index';

/** The debug roots, in the order Portage packs them (sources first). */
export const DEBUG_ROOTS = ['usr/src/debug', 'usr/lib/debug'] as const;

export interface PackageIdentity {
  category: string;
  pn: string;
  pf: string;
  buildNumber: string;
}

export const CATEGORY_RE = /^[A-Za-z0-9_][A-Za-z0-9+_.-]*$/;
export const PN_RE = /^[A-Za-z0-9_][A-Za-z0-9+_-]*$/;

/** Rejects names that would not make a single safe path component. */
export function validateIdentity(id: PackageIdentity): void {
  const bad = (what: string, value: string, why: string) =>
    new PackdebugError('E_USAGE', `invalid ${what} '${value}': ${why}`);
  if (!CATEGORY_RE.test(id.category)) throw bad('CATEGORY', id.category, 'not a PMS category name');
  if (!isPackageName(id.pn)) throw bad('PN', id.pn, 'not a PMS package name');
  const version = versionOfPf(id.pn, id.pf);
  if (typeof version === 'string') throw bad('PF', id.pf, `must be ${id.pn}-VERSION with a PMS version (${version})`);
  if (!/^[0-9]+$/.test(id.buildNumber))
    throw bad('BUILD_ID', id.buildNumber, 'must be a non-negative integer (binpkg-multi-instance)');
  // PMS sets no length limit; a file name does. Refused before anything is created.
  const tooLong = (what: string, value: string, name: string) =>
    new PackdebugError(
      'E_USAGE',
      `invalid ${what} '${shorten(value)}': ${name} would be ${Buffer.byteLength(name)} bytes, ` +
        `longer than ${NAME_MAX} bytes (NAME_MAX), the longest file name`,
    );
  if (Buffer.byteLength(id.category) > NAME_MAX) throw tooLong('CATEGORY', id.category, 'the CATEGORY directory');
  if (Buffer.byteLength(id.pn) > NAME_MAX) throw tooLong('PN', id.pn, 'the PN directory');
  const file = tarballFileName(id);
  if (Buffer.byteLength(file) > NAME_MAX) throw tooLong('PF', id.pf, `the tarball name PF-BUILD_ID${TARBALL_SUFFIX}`);
}

/** The longest file name (one path component) on Linux file systems, in bytes. */
export const NAME_MAX = 255;

function shorten(value: string): string {
  return value.length > 40 ? `${value.slice(0, 20)}...${value.slice(-12)}` : value;
}

/** `PF-BUILD_ID-debug.tar.xz`. */
export function tarballFileName(id: PackageIdentity): string {
  return `${id.pf}-${id.buildNumber}${TARBALL_SUFFIX}`;
}

/** `CAT/PN/PF-BUILD_ID-debug.tar.xz`, the path below the .tarball directory. */
export function tarballRelativePath(id: PackageIdentity): string {
  return path.posix.join(id.category, id.pn, tarballFileName(id));
}

/** Default output path for an image: `${ED}/usr/lib/debug/.tarball/CAT/PN/PF-N-debug.tar.xz`. */
export function defaultTarballPath(image: string, id: PackageIdentity): string {
  return path.join(image, TARBALL_DIR, tarballRelativePath(id));
}

/** PMS 3.1.2: a package name, which must not end in a hyphen and something that is a valid version. */
export function isPackageName(pn: string): boolean {
  if (!PN_RE.test(pn)) return false;
  for (let i = pn.indexOf('-'); i !== -1; i = pn.indexOf('-', i + 1))
    if (VERSION_RE.test(pn.slice(i + 1))) return false;
  return true;
}

/** The suffix of every debug tarball name. */
export const TARBALL_SUFFIX = '-debug.tar.xz';

/**
 * The PMS version in `PF` for package `PN`, or why there is none.
 */
export function versionOfPf(pn: string, pf: string): PmsVersion | string {
  if (!isPackageName(pn)) return `'${pn}' is not a PMS package name`;
  if (!pf.startsWith(`${pn}-`)) return `'${pf}' does not start with '${pn}-'`;
  const version = parseVersion(pf.slice(pn.length + 1));
  return version ?? `'${pf.slice(pn.length + 1)}' is not a PMS version`;
}

/** A tarball name taken apart: `CATEGORY/PN/PF-BUILD_ID-debug.tar.xz`. */
export interface TarballName {
  category: string;
  pn: string;
  pf: string;
  version: PmsVersion;
  /** BUILD_ID as written (digits). */
  buildNumber: string;
}

/**
 * Parses a tarball's file name in its CATEGORY/PN directory. Returns a
 * string saying what is wrong when it does not follow the naming scheme:
 * PF must be PN plus a PMS version, BUILD_ID an integer. (A version never
 * ends in `-DIGITS`, so the last such group is BUILD_ID.)
 */
export function parseTarballName(category: string, pn: string, file: string): TarballName | string {
  if (!CATEGORY_RE.test(category)) return `'${category}' is not a PMS category name`;
  if (!isPackageName(pn)) return `'${pn}' is not a PMS package name`;
  if (!file.endsWith(TARBALL_SUFFIX)) return `does not end in '${TARBALL_SUFFIX}'`;
  const stem = file.slice(0, -TARBALL_SUFFIX.length);
  const m = /^(.+)-(\d+)$/.exec(stem);
  if (!m) return `no BUILD_ID: expected ${pn}-VERSION-BUILD_ID${TARBALL_SUFFIX}`;
  const pf = m[1]!;
  const version = versionOfPf(pn, pf);
  if (typeof version === 'string') return version;
  return { category, pn, pf, version, buildNumber: m[2]! };
}
