/**
 * XPAK binpkgs (`*.tbz2`, `*.xpak`): a compressed tar followed by
 *
 *   "XPAKPACK" index_len:u32be data_len:u32be index data "XPAKSTOP"
 *   xpak_len:u32be "STOP"
 *
 * where xpak_len counts from XPAKPACK through XPAKSTOP and each index
 * record is name_len:u32be name data_offset:u32be data_len:u32be, the
 * offsets relative to the data area (Portage's lib/portage/xpak.py).
 */
import type { FileHandle } from 'node:fs/promises';
import { PackdebugError } from '../errors.js';
import { MAX_METADATA_KEYS } from './limits.js';

export const XPAK_HEAD = Buffer.from('XPAKPACK', 'latin1');
export const XPAK_TAIL = Buffer.from('XPAKSTOP', 'latin1');
export const XPAK_STOP = Buffer.from('STOP', 'latin1');

/** Metadata larger than this is not a build-info segment (openBinpkg applies the lower, settable, metadata cap). */
const MAX_XPAK_BYTES = 1 << 30;

export interface XpakLayout {
  /** Bytes [0, tarSize) of the file are the compressed tar. */
  tarSize: number;
  /** Offset of XPAKPACK. */
  xpakOffset: number;
  xpakSize: number;
}

/** Finds the segment from the end of the file; throws E_FORMAT naming `file` when it is not there. */
export async function locateXpak(fh: FileHandle, fileSize: number, file: string): Promise<XpakLayout> {
  const bad = (why: string) => new PackdebugError('E_FORMAT', `${file}: ${why}`, { file });
  if (fileSize < 8 + 16 + 8) throw bad(`too short for an XPAK binpkg (${fileSize} bytes)`);
  const trailer = Buffer.alloc(8);
  await fh.read(trailer, 0, 8, fileSize - 8);
  if (!trailer.subarray(4).equals(XPAK_STOP))
    throw bad("no XPAK segment at the end (missing 'STOP' trailer: truncated, or not an XPAK binpkg)");
  const xpakSize = trailer.readUInt32BE(0);
  const xpakOffset = fileSize - 8 - xpakSize;
  if (xpakSize < 24 || xpakOffset < 0 || xpakSize > MAX_XPAK_BYTES)
    throw bad(`XPAK segment size ${xpakSize} does not fit the file`);
  const edges = Buffer.alloc(8);
  await fh.read(edges, 0, 8, xpakOffset);
  if (!edges.equals(XPAK_HEAD)) throw bad(`no XPAKPACK at offset ${xpakOffset} (corrupt XPAK segment)`);
  await fh.read(edges, 0, 8, xpakOffset + xpakSize - 8);
  if (!edges.equals(XPAK_TAIL)) throw bad('XPAK segment does not end with XPAKSTOP (corrupt)');
  return { tarSize: xpakOffset, xpakOffset, xpakSize };
}

/** Decodes an XPAK segment (XPAKPACK..XPAKSTOP) into its key/value pairs. */
export function decodeXpak(segment: Buffer, file: string): Map<string, Buffer> {
  const bad = (why: string) => new PackdebugError('E_FORMAT', `${file}: corrupt XPAK segment (${why})`, { file });
  if (
    segment.length < 24 ||
    !segment.subarray(0, 8).equals(XPAK_HEAD) ||
    !segment.subarray(segment.length - 8).equals(XPAK_TAIL)
  ) {
    throw bad('bad magic');
  }
  const indexLen = segment.readUInt32BE(8);
  const dataLen = segment.readUInt32BE(12);
  if (16 + indexLen + dataLen + 8 !== segment.length)
    throw bad(`index ${indexLen} + data ${dataLen} bytes do not fill the segment`);
  const index = segment.subarray(16, 16 + indexLen);
  const data = segment.subarray(16 + indexLen, 16 + indexLen + dataLen);
  const values = new Map<string, Buffer>();
  let pos = 0;
  while (pos < index.length) {
    if (values.size >= MAX_METADATA_KEYS) throw bad(`more than ${MAX_METADATA_KEYS} keys`);
    if (pos + 4 > index.length) throw bad('index record cut short');
    const nameLen = index.readUInt32BE(pos);
    if (pos + 4 + nameLen + 8 > index.length) throw bad('index record cut short');
    const name = index.toString('utf8', pos + 4, pos + 4 + nameLen);
    const offset = index.readUInt32BE(pos + 4 + nameLen);
    const length = index.readUInt32BE(pos + 8 + nameLen);
    if (offset + length > data.length) throw bad(`value of ${name} lies outside the data area`);
    values.set(name, data.subarray(offset, offset + length));
    pos += 4 + nameLen + 8;
  }
  return values;
}

/** Encodes key/value pairs as an XPAK segment (for tests and fixtures; Portage's order is the caller's). */
export function encodeXpak(values: ReadonlyMap<string, Uint8Array> | Record<string, string | Uint8Array>): Buffer {
  const entries = values instanceof Map ? [...values] : Object.entries(values);
  const index: Buffer[] = [];
  const data: Buffer[] = [];
  let dataLen = 0;
  for (const [name, value] of entries) {
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    const n = Buffer.from(name, 'utf8');
    const rec = Buffer.alloc(4 + n.length + 8);
    rec.writeUInt32BE(n.length, 0);
    n.copy(rec, 4);
    rec.writeUInt32BE(dataLen, 4 + n.length);
    rec.writeUInt32BE(v.length, 8 + n.length);
    index.push(rec);
    data.push(v);
    dataLen += v.length;
  }
  const indexBuf = Buffer.concat(index);
  const lens = Buffer.alloc(8);
  lens.writeUInt32BE(indexBuf.length, 0);
  lens.writeUInt32BE(dataLen, 4);
  return Buffer.concat([XPAK_HEAD, lens, indexBuf, ...data, XPAK_TAIL]);
}

/** What follows the compressed tar in a .tbz2: the segment, its size and STOP. */
export function xpakTrailer(segment: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(segment.length, 0);
  return Buffer.concat([segment, size, XPAK_STOP]);
}
