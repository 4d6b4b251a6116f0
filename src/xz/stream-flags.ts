import { crc32 } from './crc32.js';

/** Stream Header and Stream Footer (spec 2.1.1, 2.1.2). */

export const HEADER_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
export const FOOTER_MAGIC = Buffer.from([0x59, 0x5a]);
export const STREAM_HEADER_SIZE = 12;
export const STREAM_FOOTER_SIZE = 12;

export const CHECK_NONE = 0x00;
export const CHECK_CRC32 = 0x01;
export const CHECK_CRC64 = 0x04;
export const CHECK_SHA256 = 0x0a;

/** Size in bytes of a Check field, by Check ID (the reserved IDs have sizes too). */
export function checkSize(checkId: number): number {
  if (checkId === 0) return 0;
  return 4 << Math.floor((checkId - 1) / 3);
}

export function isSupportedCheck(checkId: number): boolean {
  return checkId === CHECK_NONE || checkId === CHECK_CRC32 || checkId === CHECK_CRC64 || checkId === CHECK_SHA256;
}

export function encodeStreamHeader(checkId: number): Buffer {
  const out = Buffer.alloc(STREAM_HEADER_SIZE);
  HEADER_MAGIC.copy(out, 0);
  out[6] = 0;
  out[7] = checkId;
  out.writeUInt32LE(crc32(out.subarray(6, 8)), 8);
  return out;
}

export function encodeStreamFooter(checkId: number, indexSize: number): Buffer {
  const out = Buffer.alloc(STREAM_FOOTER_SIZE);
  out.writeUInt32LE(indexSize / 4 - 1, 4);
  out[8] = 0;
  out[9] = checkId;
  out.writeUInt32LE(crc32(out.subarray(4, 10)), 0);
  FOOTER_MAGIC.copy(out, 10);
  return out;
}

export type FlagsResult = { checkId: number } | { error: string; unsupported?: boolean };

function decodeFlags(flags: Uint8Array): FlagsResult {
  if (flags[0] !== 0 || (flags[1]! & 0xf0) !== 0) {
    return { error: 'Stream Flags have reserved bits set (unsupported)', unsupported: true };
  }
  const checkId = flags[1]! & 0x0f;
  if (!isSupportedCheck(checkId)) return { error: `unsupported Check ID ${checkId}`, unsupported: true };
  return { checkId };
}

export function decodeStreamHeader(buf: Uint8Array): FlagsResult {
  if (buf.length < STREAM_HEADER_SIZE) return { error: 'truncated Stream Header' };
  if (!HEADER_MAGIC.equals(buf.subarray(0, 6))) return { error: 'not an xz file (bad Stream Header magic)' };
  if (crc32(buf.subarray(6, 8)) !== Buffer.from(buf.buffer, buf.byteOffset, 12).readUInt32LE(8)) {
    return { error: 'Stream Header CRC32 mismatch' };
  }
  return decodeFlags(buf.subarray(6, 8));
}

/** With unsupported flags the footer is still intact: indexSize lets a reader compare it with the Stream Header. */
export type FooterResult =
  { checkId: number; indexSize: number } | { error: string; unsupported?: boolean; indexSize?: number };

export function decodeStreamFooter(buf: Uint8Array): FooterResult {
  if (buf.length < STREAM_FOOTER_SIZE) return { error: 'truncated Stream Footer' };
  const b = Buffer.from(buf.buffer, buf.byteOffset, STREAM_FOOTER_SIZE);
  if (!FOOTER_MAGIC.equals(b.subarray(10, 12))) return { error: 'bad Stream Footer magic (truncated or not xz)' };
  if (crc32(b.subarray(4, 10)) !== b.readUInt32LE(0)) return { error: 'Stream Footer CRC32 mismatch' };
  const indexSize = (b.readUInt32LE(4) + 1) * 4;
  const flags = decodeFlags(b.subarray(8, 10));
  if ('error' in flags) return { ...flags, indexSize };
  return { checkId: flags.checkId, indexSize };
}

/** Stream Flags of header and footer must be equal (spec 2.1.2.3). */
export function sameStreamFlags(header: Uint8Array, footer: Uint8Array): boolean {
  return header[6] === footer[8] && header[7] === footer[9];
}
