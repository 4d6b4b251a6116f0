import { BLOCK_HEADER_SIZE_MIN } from './block-header.js';
import { crc32 } from './crc32.js';
import { checkSize } from './stream-flags.js';
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

/**
 * The records of an Index as two columns: 16 bytes a record. A Stream may
 * claim millions of Blocks, and an object per record would cost ten times that.
 */
export interface IndexTable {
  count: number;
  unpaddedSizes: Float64Array;
  uncompressedSizes: Float64Array;
}

export interface IndexBounds {
  /**
   * Smallest Unpadded Size a record may give. Default UNPADDED_SIZE_MIN; minUnpaddedSize(checkId) for a real
   * Stream.
   */
  minUnpaddedSize?: number;
  /** Bytes the Stream's Blocks can take at most (what the file holds before the Index). */
  blocksSpace?: number;
}

/**
 * The smallest Unpadded Size a Block can really have in a Stream with this
 * Check: a Block Header of at least eight bytes (spec 3.1.1), Compressed
 * Data of at least one (its size "MUST be non-zero", 3.1.3), and the Check.
 * The spec's bare minimum of five (4.3.1) ignores the header's own minimum.
 */
export function minUnpaddedSize(checkId: number): number {
  return BLOCK_HEADER_SIZE_MIN + 1 + checkSize(checkId);
}

/** Decodes a complete Index field (as located by the Stream Footer's Backward Size). */
export function decodeIndex(buf: Uint8Array): IndexResult {
  const table = decodeIndexTable(buf);
  if ('error' in table) return table;
  const records: IndexRecord[] = [];
  for (let i = 0; i < table.count; i++)
    records.push({ unpaddedSize: table.unpaddedSizes[i]!, uncompressedSize: table.uncompressedSizes[i]! });
  return { records };
}

/**
 * decodeIndex into columns, with the checks that bound the work by the
 * file: a count whose smallest possible Blocks would not fit in
 * `blocksSpace` is refused before anything is allocated, and the records
 * are refused as soon as their Blocks add up to more than that.
 */
export function decodeIndexTable(buf: Uint8Array, bounds: IndexBounds = {}): IndexTable | { error: string } {
  const minUnpadded = bounds.minUnpaddedSize ?? UNPADDED_SIZE_MIN;
  const space = bounds.blocksSpace ?? Infinity;
  if (buf.length < 8 || buf.length % 4 !== 0) return { error: 'Index size is not a multiple of four' };
  if (buf[0] !== 0x00) return { error: 'Index Indicator is not zero' };
  const end = buf.length - 4;
  let pos = 1;
  const count = decodeVli(buf, pos, end);
  if ('error' in count) return { error: `Index: ${count.error}` };
  pos += count.size;
  // Each record takes at least two bytes: reject absurd counts before looping.
  if (count.value > (end - pos) / 2) return { error: 'Index Number of Records exceeds the Index size' };
  if (count.value * padTo4(minUnpadded) > space) {
    return {
      error:
        `Index lists ${count.value} Blocks, more than the ${space} bytes before it can hold ` +
        `(a Block takes at least ${padTo4(minUnpadded)})`,
    };
  }
  const unpaddedSizes = new Float64Array(count.value);
  const uncompressedSizes = new Float64Array(count.value);
  let blocksSize = 0;
  for (let i = 0; i < count.value; i++) {
    const unpadded = decodeVli(buf, pos, end);
    if ('error' in unpadded) return { error: `Index record ${i}: ${unpadded.error}` };
    pos += unpadded.size;
    const uncompressed = decodeVli(buf, pos, end);
    if ('error' in uncompressed) return { error: `Index record ${i}: ${uncompressed.error}` };
    pos += uncompressed.size;
    if (unpadded.value < minUnpadded)
      return { error: `Index record ${i}: Unpadded Size ${unpadded.value} is too small` };
    blocksSize += padTo4(unpadded.value);
    if (blocksSize > space) return { error: 'Index describes more data than the file holds' };
    unpaddedSizes[i] = unpadded.value;
    uncompressedSizes[i] = uncompressed.value;
  }
  if (end - pos > 3 || end - pos < 0) return { error: 'Index has the wrong amount of padding' };
  for (let p = pos; p < end; p++) if (buf[p] !== 0) return { error: 'Index Padding is not zero' };
  const stored = Buffer.from(buf.buffer, buf.byteOffset, buf.length).readUInt32LE(end);
  if (crc32(buf.subarray(0, end)) !== stored) return { error: 'Index CRC32 mismatch' };
  return { count: count.value, unpaddedSizes, uncompressedSizes };
}
