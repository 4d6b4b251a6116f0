/**
 * The part of a Portage phase environment that `packdebug hook` uses, read
 * into typed settings. Pure: the environment and a file reader are passed
 * in, so every rule here is unit-testable without Portage.
 *
 * Facts this follows (see shared/NOTES.md, "What a pre_pkg_preinst hook
 * really sees"):
 *  - ED has no trailing slash in EAPI 7+, D may have one; ED is D+EPREFIX.
 *  - BUILD_ID (binpkg-multi-instance) is in the environment when the package
 *    was built from source, but not when it is merged from a binpkg; then
 *    `${PORTAGE_BUILDDIR}/build-info/BUILD_ID` holds it.
 */
import path from 'node:path';
import { PackdebugError } from '../errors.js';
import { TARBALL_DIR } from './naming.js';
import { readSmallFileSync } from '../util/regular-file.js';
import { parseSize } from '../util/size.js';

export interface HookSettings {
  /** ${D} without trailing slashes (absent when only ED was given). */
  d: string | undefined;
  /** ${ED}, the image directory packdebug packs (absolute, no trailing slash). */
  ed: string;
  /** ${EPREFIX}, '' outside Gentoo Prefix. */
  eprefix: string;
  category: string;
  pn: string;
  pf: string;
  /** Binpkg BUILD_ID, from the environment or build-info; undefined when neither has one. */
  buildNumber: string | undefined;
  /** Where buildNumber came from. */
  buildNumberSource: 'env' | 'build-info' | undefined;
  /** ${FEATURES}, split into words. */
  features: string[];
  t: string | undefined;
  portageBuilddir: string | undefined;
  /** ${EBUILD_PHASE} ('preinst' in pre_pkg_preinst), undefined outside Portage. */
  ebuildPhase: string | undefined;
  sourceDateEpoch: number | undefined;
  /** PACKDEBUG_PRESET: '0'-'9' or '0e'-'9e'; undefined = engine default. */
  preset: string | undefined;
  /** PACKDEBUG_THREADS; undefined = engine default (all cores). */
  threads: number | undefined;
  /** PACKDEBUG_BLOCK_SIZE in bytes; undefined = engine default. */
  blockSize: number | undefined;
  /** PACKDEBUG_SOURCE_BLOCK_SIZE in bytes; undefined = engine default. */
  sourceBlockSize: number | undefined;
  /** PACKDEBUG_ENCODER: auto (default), xz or lzma-native. */
  encoder: 'auto' | 'xz' | 'lzma-native';
  /** PACKDEBUG_REMOVE_PACKED. */
  removePacked: boolean;
  /** PACKDEBUG_STRICT (the bashrc turns a failure into `die`). */
  strict: boolean;
}

/** Reads a text file; returns undefined when it does not exist. */
export type ReadFile = (file: string) => string | undefined;

/**
 * The real ReadFile: undefined for a missing file (or a missing parent);
 * a small regular file only (readSmallFileSync: no symlink, FIFO or device,
 * at most 4 KiB), an E_INPUT PackdebugError otherwise.
 */
export const readTextFile: ReadFile = (file) => readSmallFileSync(file);

const usage = (message: string) => new PackdebugError('E_USAGE', message);

/** Strips trailing slashes, keeping a lone '/'. */
function stripTrailingSlashes(p: string): string {
  const s = p.replace(/\/+$/, '');
  return s === '' && p.startsWith('/') ? '/' : s;
}

function nonEmpty(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = nonEmpty(env, name)?.trim();
  if (v === undefined || v === '') {
    throw usage(
      `${name} is not set: \`packdebug hook\` runs inside a Portage phase (pre_pkg_preinst, see docs/hook.md)`,
    );
  }
  return v;
}

/** 1/yes/true → true; 0/no/false/empty/unset → false; anything else is an error. */
export function parseBoolean(name: string, value: string | undefined): boolean {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '1' || v === 'yes' || v === 'true') return true;
  if (v === '' || v === '0' || v === 'no' || v === 'false') return false;
  throw usage(`${name}=${value}: not a boolean (use 1/yes/true or 0/no/false)`);
}

/** xz presets: 0-9, optionally extreme (`6e`). */
export function parsePreset(name: string, value: string): string {
  const v = value.trim();
  if (!/^[0-9]e?$/.test(v)) throw usage(`${name}=${value}: not an xz preset (0-9, or 0e-9e for extreme)`);
  return v;
}

export function parsePositiveInt(name: string, value: string): number {
  const v = value.trim();
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < 1) {
    throw usage(`${name}=${value}: not a positive integer`);
  }
  return n;
}

export function parseEpoch(name: string, value: string): number {
  const v = value.trim();
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n)) {
    throw usage(`${name}=${value}: not a non-negative integer (seconds since the epoch)`);
  }
  return n;
}

/**
 * SOURCE_DATE_EPOCH (reproducible builds: member mtimes are clamped to it),
 * as pack, from-binpkg and the hook read it: unset or empty is none.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const value = nonEmpty(env, 'SOURCE_DATE_EPOCH');
  return value === undefined ? undefined : parseEpoch('SOURCE_DATE_EPOCH', value);
}

function absolute(name: string, value: string): string {
  if (!value.startsWith('/')) throw usage(`${name}=${value}: not an absolute path`);
  return value;
}

/**
 * Reads Portage's phase environment and the PACKDEBUG_* settings.
 * Throws PackdebugError E_USAGE for a missing image/package identity or an
 * invalid PACKDEBUG_* value; a missing BUILD_ID is not an error here
 * (buildNumber is undefined, the caller explains).
 */
export function readHookSettings(env: NodeJS.ProcessEnv, readFile: ReadFile = readTextFile): HookSettings {
  const eprefix = stripTrailingSlashes(nonEmpty(env, 'EPREFIX') ?? '');
  if (eprefix !== '') absolute('EPREFIX', eprefix);

  const dRaw = nonEmpty(env, 'D');
  const d = dRaw === undefined ? undefined : stripTrailingSlashes(absolute('D', dRaw));
  const edRaw = nonEmpty(env, 'ED');
  let ed: string;
  if (edRaw !== undefined) {
    ed = stripTrailingSlashes(absolute('ED', edRaw));
  } else if (d !== undefined) {
    // EAPI < 3 and some callers give only D: ED = D + EPREFIX.
    ed = stripTrailingSlashes(eprefix === '' ? d : path.posix.join(d, eprefix));
  } else {
    throw usage(
      'ED (or D) is not set: `packdebug hook` runs inside a Portage phase (pre_pkg_preinst, see docs/hook.md)',
    );
  }

  const portageBuilddir = nonEmpty(env, 'PORTAGE_BUILDDIR');
  let buildNumber = nonEmpty(env, 'BUILD_ID')?.trim() || undefined;
  let buildNumberSource: HookSettings['buildNumberSource'] = buildNumber === undefined ? undefined : 'env';
  if (buildNumber === undefined && portageBuilddir !== undefined) {
    // Binpkg merges (emerge --usepkg) lack BUILD_ID in the environment.
    const text = readFile(path.posix.join(portageBuilddir, 'build-info', 'BUILD_ID'));
    const trimmed = text?.trim();
    if (trimmed) {
      buildNumber = trimmed;
      buildNumberSource = 'build-info';
    }
  }

  const preset = nonEmpty(env, 'PACKDEBUG_PRESET');
  const threads = nonEmpty(env, 'PACKDEBUG_THREADS');
  const sizeSetting = (name: string): number | undefined => {
    const text = nonEmpty(env, name);
    if (text === undefined) return undefined;
    const label = `${name}=${text}`;
    const bytes = parseSize(text, label);
    if (bytes < 4096) throw usage(`${label}: must be at least 4KiB`);
    return bytes;
  };
  const blockBytes = sizeSetting('PACKDEBUG_BLOCK_SIZE');
  const sourceBlockBytes = sizeSetting('PACKDEBUG_SOURCE_BLOCK_SIZE');
  const encoder = nonEmpty(env, 'PACKDEBUG_ENCODER') ?? 'auto';
  if (encoder !== 'auto' && encoder !== 'xz' && encoder !== 'lzma-native') {
    throw usage(`PACKDEBUG_ENCODER=${encoder}: expected auto, xz or lzma-native`);
  }

  return {
    d,
    ed,
    eprefix,
    category: required(env, 'CATEGORY'),
    pn: required(env, 'PN'),
    pf: required(env, 'PF'),
    buildNumber,
    buildNumberSource,
    features: (env['FEATURES'] ?? '').split(/\s+/).filter((w) => w !== ''),
    t: nonEmpty(env, 'T'),
    portageBuilddir,
    ebuildPhase: nonEmpty(env, 'EBUILD_PHASE'),
    sourceDateEpoch: sourceDateEpoch(env),
    preset: preset === undefined ? undefined : parsePreset('PACKDEBUG_PRESET', preset),
    threads: threads === undefined ? undefined : parsePositiveInt('PACKDEBUG_THREADS', threads),
    blockSize: blockBytes,
    sourceBlockSize: sourceBlockBytes,
    encoder,
    removePacked: parseBoolean('PACKDEBUG_REMOVE_PACKED', env['PACKDEBUG_REMOVE_PACKED']),
    strict: parseBoolean('PACKDEBUG_STRICT', env['PACKDEBUG_STRICT']),
  };
}

/** The installed tarball tree: `${EPREFIX}/usr/lib/debug/.tarball` (the default of extract, repack, audit, prune). */
export function defaultTree(env: NodeJS.ProcessEnv): string {
  return path.join('/', env['EPREFIX'] ?? '', TARBALL_DIR);
}
