import { crc32 } from './crc32.js';
import { decodeVli, encodeVli } from './vli.js';

/** The Index of one Stream (spec 4): one record per Block. */
export interface IndexRecord {
  /** Block Header + Compressed Data + Check, without Block Padding. */
  unpaddedSize: number;
  uncompressedSize: number;
}

export const UNPADDED_SIZE_MIN = 5;

/** Size of a Block in the file: Unpadded Size rounded up to a multiple of four. */
export function padTo4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

export function encodeIndex(records: readonly IndexRecord[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x00]), encodeVli(records.length)];
  for (const r of records) parts.push(encodeVli(r.unpaddedSize), encodeVli(r.uncompressedSize));
  let size = parts.reduce((n, p) => n + p.length, 0);
  const pad = (4 - (size % 4)) % 4;
  parts.push(Buffer.alloc(pad));
  size += pad;
  const body = Buffer.concat(parts, size);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(body), 0);
  return Buffer.concat([body, crc]);
}

export type IndexResult = { records: IndexRecord[] } | { error: string };

/** Decodes a complete Index field (as located by the Stream Footer's Backward Size). */
export function decodeIndex(buf: Uint8Array): IndexResult {
  if (buf.length < 8 || buf.length % 4 !== 0) return { error: 'Index size is not a multiple of four' };
  if (buf[0] !== 0x00) return { error: 'Index Indicator is not zero' };
  const end = buf.length - 4;
  let pos = 1;
  const count = decodeVli(buf, pos, end);
  if ('error' in count) return { error: `Index: ${count.error}` };
  pos += count.size;
  // Each record takes at least two bytes: reject absurd counts before looping.
  if (count.value > (end - pos) / 2) return { error: 'Index Number of Records exceeds the Index size' };
  const records: IndexRecord[] = [];
  for (let i = 0; i < count.value; i++) {
    const unpadded = decodeVli(buf, pos, end);
    if ('error' in unpadded) return { error: `Index record ${i}: ${unpadded.error}` };
    pos += unpadded.size;
    const uncompressed = decodeVli(buf, pos, end);
    if ('error' in uncompressed) return { error: `Index record ${i}: ${uncompressed.error}` };
    pos += uncompressed.size;
    if (unpadded.value < UNPADDED_SIZE_MIN)
      return { error: `Index record ${i}: Unpadded Size ${unpadded.value} is too small` };
    records.push({ unpaddedSize: unpadded.value, uncompressedSize: uncompressed.value });
  }
  if (end - pos > 3 || end - pos < 0) return { error: 'Index has the wrong amount of padding' };
  for (let p = pos; p < end; p++) if (buf[p] !== 0) return { error: 'Index Padding is not zero' };
  const stored = Buffer.from(buf.buffer, buf.byteOffset, buf.length).readUInt32LE(end);
  if (crc32(buf.subarray(0, end)) !== stored) return { error: 'Index CRC32 mismatch' };
  return { records };
}
