/**
 * GPKG binpkgs (`*.gpkg.tar`, GLEP 78): a plain tar holding, below one
 * directory `<basename>/`,
 *
 *   gpkg-1                      format marker, the first member
 *   metadata.tar[.COMP]         build-info as `metadata/KEY` files
 *   image.tar[.COMP]            the image as `image/...` (paths below ${D})
 *   *.sig, Manifest             signatures and their Manifest (ignored, never touched)
 *
 * Some Portage releases write `gpkg-1` and `Manifest` at the top level of
 * the outer tar instead (gpkg.py: `TarInfo("gpkg-1")`); both are accepted.
 * Inside the payloads, `metadata/` and `image/` are Portage's prefixes;
 * `<basename>/metadata/` and `<basename>/image/` are accepted too.
 */
import { PackdebugError } from '../errors.js';
import { COMPRESSION_SUFFIXES, type Compression } from './compression.js';
import type { OuterMember } from './outer-tar.js';
import { isRegular, TarType } from '../tar/types.js';

export const GPKG_MARKER = 'gpkg-1';

export interface GpkgPayload {
  /** Member name in the outer tar (`hello-1.0-1/image.tar.zst`). */
  name: string;
  compression: Compression;
  offset: number;
  size: number;
}

export interface GpkgLayout {
  /** The top directory of every member (Portage: the binpkg's basename). */
  basename: string;
  metadata: GpkgPayload;
  image: GpkgPayload;
  /** Signature and Manifest members present (reported, never checked or changed). */
  signatures: string[];
}

/** Checks the outer layout and finds the two payloads; E_FORMAT naming `file` otherwise. */
export function gpkgLayout(members: readonly OuterMember[], file: string): GpkgLayout {
  const bad = (why: string) => new PackdebugError('E_FORMAT', `${file}: not a valid GPKG (${why})`, { file });
  if (members.length === 0) throw bad('empty outer tar');
  const tops = new Set<string>();
  const files: OuterMember[] = [];
  /** Top-level files Portage may write outside the package directory. */
  const TOP_LEVEL = new Set([GPKG_MARKER, 'Manifest', 'Manifest.sig']);
  for (const m of members) {
    const name = m.name.replace(/^\.\//, '').replace(/\/+$/, '');
    const parts = name.split('/');
    if (name.startsWith('/') || parts.some((p) => p === '..' || p === '')) throw bad(`unsafe member name '${m.name}'`);
    if (m.type === TarType.directory) {
      if (parts.length !== 1) throw bad(`unexpected directory '${m.name}'`);
      tops.add(parts[0]!);
      continue;
    }
    if (!isRegular(m.type)) throw bad(`member '${m.name}' is not a regular file`);
    if (parts.length === 1 && TOP_LEVEL.has(name)) {
      files.push({ ...m, name });
      continue;
    }
    if (parts.length !== 2) throw bad(`member '${m.name}' is not directly below the package directory`);
    tops.add(parts[0]!);
    files.push({ ...m, name });
  }
  if (tops.size !== 1)
    throw bad(
      tops.size === 0
        ? 'no package directory'
        : `members below ${tops.size} top directories (${[...tops].slice(0, 3).join(', ')}), expected one`,
    );
  const basename = [...tops][0]!;
  const leaf = (m: OuterMember) => (m.name.includes('/') ? m.name.slice(basename.length + 1) : m.name);
  const markers = files.filter((m) => leaf(m) === GPKG_MARKER);
  if (markers.length === 0) throw bad(`no '${GPKG_MARKER}' member`);
  if (markers.length > 1) throw bad(`${markers.length} '${GPKG_MARKER}' members`);
  if (files[0] !== markers[0]) throw bad(`'${GPKG_MARKER}' is not the first member`);
  const payload = (stem: 'metadata' | 'image'): GpkgPayload => {
    const found = files.filter((m) => {
      const l = leaf(m);
      return m.name.includes('/') && l.startsWith(`${stem}.tar`) && !l.endsWith('.sig');
    });
    if (found.length === 0) throw bad(`no ${stem}.tar member`);
    if (found.length > 1) throw bad(`${found.length} ${stem}.tar members`);
    const m = found[0]!;
    const suffix = leaf(m).slice(`${stem}.tar`.length);
    const compression = COMPRESSION_SUFFIXES[suffix];
    if (compression === undefined) throw bad(`unknown compression of '${m.name}'`);
    return { name: m.name, compression, offset: m.dataOffset, size: m.size };
  };
  const metadata = payload('metadata');
  const image = payload('image');
  const signatures = files.map(leaf).filter((l) => l.endsWith('.sig') || l === 'Manifest');
  return { basename, metadata, image, signatures };
}

/** Prefixes of member names inside a payload: Portage's `image/`, or `<basename>/image/`. */
export function payloadPrefixes(layout: Pick<GpkgLayout, 'basename'>, stem: 'metadata' | 'image'): string[] {
  return [stem, `${layout.basename}/${stem}`];
}
