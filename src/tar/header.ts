/**
 * One 512-byte tar header block (POSIX ustar, as read by GNU tar, libarchive
 * and debuginfod). Encoding writes only what packdebug stores; decoding also
 * accepts what other writers produce (GNU magic, base-256 numbers).
 */

export const BLOCK_SIZE = 512;

export type TypeFlag =
  | '0' // regular file ('\0' is read as '0')
  | '1' // hard link
  | '2' // symbolic link
  | '3' // character device
  | '4' // block device
  | '5' // directory
  | '6' // fifo
  | '7' // contiguous file (read as a regular file)
  | 'x' // pax extended header for the next entry
  | 'g' // pax global header
  | 'L' // GNU long name for the next entry
  | 'K' // GNU long link name for the next entry
  | string;

export interface HeaderFields {
  /** Full name as stored (ustar prefix joined), raw bytes decoded as UTF-8. */
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: TypeFlag;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

const OCTAL_SIZE_MAX = 0o77777777777; // 11 octal digits

/** Fields that do not fit a ustar header go into a pax extended header. */
export function paxNeeds(h: HeaderFields): Record<string, string> {
  const pax: Record<string, string> = {};
  if (!isAscii(h.name) || splitUstarName(h.name) === null) pax.path = h.name;
  if (!isAscii(h.linkname) || Buffer.byteLength(h.linkname) > 100) pax.linkpath = h.linkname;
  if (h.size > OCTAL_SIZE_MAX) pax.size = String(h.size);
  if (h.mtime < 0 || h.mtime > OCTAL_SIZE_MAX) pax.mtime = String(h.mtime);
  return pax;
}

/** Encodes a header; fields that do not fit (see paxNeeds) are written truncated or zero. */
export function encodeHeader(h: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK_SIZE);
  const split = isAscii(h.name) ? splitUstarName(h.name) : null;
  if (split) {
    b.write(split.name, 0, 100, 'utf8');
    b.write(split.prefix, 345, 155, 'utf8');
  } else {
    writeTruncated(b, asciiFallback(h.name), 0, 100);
  }
  writeOctal(b, h.mode & 0o7777, 100, 8);
  writeOctal(b, h.uid, 108, 8);
  writeOctal(b, h.gid, 116, 8);
  writeOctal(b, h.size <= OCTAL_SIZE_MAX ? h.size : 0, 124, 12);
  writeOctal(b, h.mtime >= 0 && h.mtime <= OCTAL_SIZE_MAX ? h.mtime : 0, 136, 12);
  b.write(h.type, 156, 1, 'latin1');
  if (isAscii(h.linkname)) writeTruncated(b, h.linkname, 157, 100);
  b.write('ustar\u000000', 257, 8, 'latin1');
  writeTruncated(b, h.uname, 265, 32);
  writeTruncated(b, h.gname, 297, 32);
  writeOctal(b, h.devmajor, 329, 8);
  writeOctal(b, h.devminor, 337, 8);
  writeChecksum(b);
  return b;
}

/** Splits a name into ustar prefix (<= 155 bytes) and name (<= 100 bytes) at a slash. */
export function splitUstarName(name: string): { prefix: string; name: string } | null {
  const len = Buffer.byteLength(name);
  if (len <= 100) return { prefix: '', name };
  if (len > 256) return null;
  // Try the rightmost slash that leaves <= 100 bytes for the name part.
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(rest) > 100) return null;
    if (Buffer.byteLength(prefix) <= 155 && rest.length > 0) return { prefix, name: rest };
  }
  return null;
}

export type DecodeResult = { header: HeaderFields } | { zero: true } | { error: string };

export function decodeHeader(block: Uint8Array): DecodeResult {
  const b = Buffer.from(block.buffer, block.byteOffset, BLOCK_SIZE);
  if (isZeroBlock(b)) return { zero: true };
  const stored = readNumber(b, 148, 8, true);
  if (stored === null || !checksumMatches(b, stored)) return { error: 'tar header checksum mismatch' };
  const magic = b.toString('latin1', 257, 263);
  const isUstar = magic === 'ustar\u0000';
  let name = readString(b, 0, 100);
  if (isUstar) {
    const prefix = readString(b, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const fields = {
    mode: readNumber(b, 100, 8),
    uid: readNumber(b, 108, 8),
    gid: readNumber(b, 116, 8),
    size: readNumber(b, 124, 12),
    mtime: readNumber(b, 136, 12),
    devmajor: readNumber(b, 329, 8) ?? 0,
    devminor: readNumber(b, 337, 8) ?? 0,
  };
  if (fields.size === null || fields.size < 0) return { error: 'tar header has an invalid size field' };
  const typeByte = b[156]!;
  return {
    header: {
      name,
      mode: fields.mode ?? 0,
      uid: fields.uid ?? 0,
      gid: fields.gid ?? 0,
      size: fields.size,
      mtime: fields.mtime ?? 0,
      type: typeByte === 0 ? '0' : String.fromCharCode(typeByte),
      linkname: readString(b, 157, 100),
      uname: readString(b, 265, 32),
      gname: readString(b, 297, 32),
      devmajor: fields.devmajor,
      devminor: fields.devminor,
    },
  };
}

export function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < BLOCK_SIZE; i++) if (b[i] !== 0) return false;
  return true;
}

/** Bytes a member occupies after its header: data rounded up to whole blocks. */
export function paddedSize(size: number): number {
  return Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;
}

function isAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex -- ASCII without NUL is exactly what a ustar name field can hold
  return /^[\x01-\x7f]*$/.test(s);
}

function asciiFallback(s: string): string {
  // eslint-disable-next-line no-control-regex -- ASCII without NUL is exactly what a ustar name field can hold
  return s.replace(/[^\x01-\x7f]/g, '_');
}

function writeTruncated(b: Buffer, s: string, offset: number, size: number): void {
  const bytes = Buffer.from(s, 'utf8');
  bytes.copy(b, offset, 0, Math.min(bytes.length, size));
}

function writeOctal(b: Buffer, value: number, offset: number, size: number): void {
  const digits = value.toString(8).padStart(size - 1, '0');
  b.write(`${digits}\u0000`, offset, size, 'latin1');
}

function writeChecksum(b: Buffer): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
}

function checksumMatches(b: Buffer, stored: number): boolean {
  // The checksum field counts as spaces; some old tars summed signed bytes.
  let unsigned = 8 * 0x20;
  let high = 0;
  for (let i = 0; i < 148; i++) {
    unsigned += b[i]!;
    high += b[i]! >> 7;
  }
  for (let i = 156; i < BLOCK_SIZE; i++) {
    unsigned += b[i]!;
    high += b[i]! >> 7;
  }
  return stored === unsigned || stored === unsigned - 256 * high;
}

// Header fields are read byte by byte: a scan decodes a header per member,
// and in a short-lived process (extract) that code never gets optimized.
function readString(b: Buffer, offset: number, size: number): string {
  let end = offset;
  while (end < offset + size && b[end] !== 0) end++;
  return end === offset ? '' : b.toString('utf8', offset, end);
}

const isSpace = (c: number | undefined): boolean => c === 0x20 || (c !== undefined && c >= 0x09 && c <= 0x0d);
const isOctal = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x37;

/**
 * A numeric field as GNU tar 1.34 reads it (from_header), so that both see
 * the same sizes: one leading NUL skipped, then white space, then octal
 * digits up to the end of the field, a NUL or white space (what follows
 * that is not looked at); or GNU base-256 (first byte 0x80, big-endian).
 * null where GNU tar reports an error: an all-blank field, any other byte
 * after the digits, a negative base-256 number, and beyond 2^53 (which
 * packdebug cannot hold). Not read: the base-64 of tar 1.13.6 test versions.
 */
function readNumber(b: Buffer, offset: number, size: number, octalOnly = false): number | null {
  const end = offset + size;
  let i = offset;
  if (b[i] === 0) i++;
  while (i < end && isSpace(b[i])) i++;
  if (i === end) return null;
  let v = 0;
  if (isOctal(b[i])) {
    for (; i < end && isOctal(b[i]); i++) v = v * 8 + (b[i]! - 0x30);
  } else if (b[i] === 0x80 && !octalOnly) {
    for (i++; i < end; i++) v = v * 256 + b[i]!;
  }
  if (i < end && b[i] !== 0 && !isSpace(b[i])) return null;
  return Number.isSafeInteger(v) ? v : null;
}
