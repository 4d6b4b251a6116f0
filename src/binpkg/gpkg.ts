/**
 * GPKG binpkgs (`*.gpkg.tar`, GLEP 78): a plain tar holding, all below one
 * directory `<basename>/`,
 *
 *   gpkg-1                      format marker, the first member
 *   metadata.tar[.COMP]         build-info as `<basename>/metadata/KEY` files
 *   image.tar[.COMP]            the image as `<basename>/image/...` (paths below ${D})
 *   *.sig, Manifest             signatures and their Manifest (ignored, never touched)
 */
import { PackdebugError } from '../errors.js';
import { COMPRESSION_SUFFIXES, type Compression } from './compression.js';
import type { OuterMember } from './outer-tar.js';

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
  for (const m of members) {
    const name = m.name.replace(/^\.\//, '').replace(/\/+$/, '');
    const parts = name.split('/');
    if (name.startsWith('/') || parts.some((p) => p === '..' || p === '')) throw bad(`unsafe member name '${m.name}'`);
    tops.add(parts[0]!);
    if (m.type === '5') {
      if (parts.length !== 1) throw bad(`unexpected directory '${m.name}'`);
      continue;
    }
    if (parts.length !== 2) throw bad(`member '${m.name}' is not directly below the package directory`);
    if (m.type !== '0' && m.type !== '7') throw bad(`member '${m.name}' is not a regular file`);
    files.push({ ...m, name });
  }
  if (tops.size !== 1) throw bad(`members below ${tops.size} top directories (${[...tops].slice(0, 3).join(', ')}), expected one`);
  const basename = [...tops][0]!;
  const leaf = (m: OuterMember) => m.name.slice(basename.length + 1);
  if (files.length === 0 || leaf(files[0]!) !== GPKG_MARKER) {
    throw bad(files.some((m) => leaf(m) === GPKG_MARKER) ? `'${GPKG_MARKER}' is not the first member` : `no '${GPKG_MARKER}' member`);
  }
  const payload = (stem: 'metadata' | 'image'): GpkgPayload => {
    const found = files.filter((m) => {
      const l = leaf(m);
      return l.startsWith(`${stem}.tar`) && !l.endsWith('.sig');
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
