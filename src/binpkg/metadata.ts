/**
 * A binpkg's own metadata (Portage's build-info: one value per key, the same
 * keys in GPKG's metadata.tar and in an XPAK segment), and the package
 * identity packdebug needs from it. The file name is never trusted: a
 * renamed binpkg still says what it is.
 */
import { PackdebugError } from '../errors.js';
import { CATEGORY_RE, isPackageName } from '../portage/naming.js';
import { VERSION_RE } from '../portage/version.js';
import { MAX_VALUE_BYTES } from './limits.js';

export interface BinpkgMetadata {
  /** Every key whose value is text, trailing newline removed (environment.bz2 and other binary values left out). */
  values: ReadonlyMap<string, string>;
  category: string;
  pf: string;
  /** PF without its version: `hello` for `hello-1.0-r1`. */
  pn: string;
  /** PF's version part: `1.0-r1`. */
  pvr: string;
  /** BUILD_ID of binpkg-multi-instance, when the package has one. */
  buildNumber: string | undefined;
  /** EPREFIX the package was built for ('' when none: Portage stores it only when non-empty). */
  eprefix: string;
}

export { MAX_VALUE_BYTES } from './limits.js';

/**
 * Splits PF into PN and version as Portage's catpkgsplit does: the version
 * is the shortest valid tail after a '-', and PN must be a valid package
 * name (one that does not itself end in what looks like a version).
 */
export function splitPf(pf: string): { pn: string; pvr: string } | undefined {
  for (let i = pf.indexOf('-'); i !== -1; i = pf.indexOf('-', i + 1)) {
    const pn = pf.slice(0, i);
    const pvr = pf.slice(i + 1);
    if (VERSION_RE.test(pvr)) return isPackageName(pn) ? { pn, pvr } : undefined;
  }
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a metadata value; binary values (compressed environment, etc.) give undefined. */
export function metadataText(raw: Uint8Array): string | undefined {
  if (raw.length > MAX_VALUE_BYTES || raw.includes(0)) return undefined;
  try {
    return utf8.decode(raw).replace(/\n$/, '');
  } catch {
    return undefined;
  }
}

/** Builds the identity from raw key/value pairs; `file` names the binpkg in errors. */
export function parseMetadata(raw: ReadonlyMap<string, Uint8Array>, file: string): BinpkgMetadata {
  const values = new Map<string, string>();
  for (const [key, value] of raw) {
    const text = metadataText(value);
    if (text !== undefined) values.set(key, text);
  }
  const bad = (why: string) => new PackdebugError('E_FORMAT', `${file}: ${why}`, { file });
  const category = values.get('CATEGORY')?.trim();
  const pf = values.get('PF')?.trim();
  if (!category) throw bad('metadata has no CATEGORY');
  if (!pf) throw bad('metadata has no PF');
  if (!CATEGORY_RE.test(category)) throw bad(`metadata CATEGORY '${category}' is not a valid category name`);
  const split = splitPf(pf);
  if (split === undefined) throw bad(`metadata PF '${pf}' is not PN-VERSION`);
  const buildNumberText = values.get('BUILD_ID')?.trim();
  if (buildNumberText !== undefined && buildNumberText !== '' && !/^[0-9]+$/.test(buildNumberText)) {
    throw bad(`metadata BUILD_ID '${buildNumberText}' is not a non-negative integer`);
  }
  const eprefix = (values.get('EPREFIX') ?? '').trim().replace(/\/+$/, '');
  if (eprefix !== '' && (!eprefix.startsWith('/') || eprefix.split('/').some((c) => c === '..' || c === '.'))) {
    throw bad(`metadata EPREFIX '${eprefix}' is not an absolute, normalized path`);
  }
  return { values, category, pf, pn: split.pn, pvr: split.pvr, buildNumber: buildNumberText || undefined, eprefix };
}
