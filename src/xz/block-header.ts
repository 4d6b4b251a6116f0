import { crc32 } from './crc32.js';
import { checkSize } from './stream-flags.js';
import { decodeVli } from './vli.js';

/** Block Header (spec 3.1). */

export const FILTER_DELTA = 0x03;
export const FILTER_X86 = 0x04;
export const FILTER_POWERPC = 0x05;
export const FILTER_IA64 = 0x06;
export const FILTER_ARM = 0x07;
export const FILTER_ARMTHUMB = 0x08;
export const FILTER_SPARC = 0x09;
export const FILTER_ARM64 = 0x0a;
export const FILTER_RISCV = 0x0b;
export const FILTER_LZMA2 = 0x21;

/** Smallest and largest Block Header (spec 3.1.1). */
export const BLOCK_HEADER_SIZE_MIN = 8;
export const BLOCK_HEADER_SIZE_MAX = 1024;

interface FilterKind {
  name: string;
  /** Branch/Call/Jump filters: the start offset must be a multiple of this (spec 5.3.2). */
  bcjAlignment?: number;
}

const FILTERS: ReadonlyMap<number, FilterKind> = new Map<number, FilterKind>([
  [FILTER_DELTA, { name: 'Delta' }],
  [FILTER_X86, { name: 'x86 BCJ', bcjAlignment: 1 }],
  [FILTER_POWERPC, { name: 'PowerPC BCJ', bcjAlignment: 4 }],
  [FILTER_IA64, { name: 'IA-64 BCJ', bcjAlignment: 16 }],
  [FILTER_ARM, { name: 'ARM BCJ', bcjAlignment: 4 }],
  [FILTER_ARMTHUMB, { name: 'ARM-Thumb BCJ', bcjAlignment: 2 }],
  [FILTER_SPARC, { name: 'SPARC BCJ', bcjAlignment: 4 }],
  [FILTER_ARM64, { name: 'ARM64 BCJ', bcjAlignment: 4 }],
  [FILTER_RISCV, { name: 'RISC-V BCJ', bcjAlignment: 2 }],
  [FILTER_LZMA2, { name: 'LZMA2' }],
]);

/** Human name of a Filter ID, for messages. */
export function filterName(id: number): string {
  return FILTERS.get(id)?.name ?? `filter 0x${id.toString(16)}`;
}

export interface BlockFilter {
  id: number;
  /** Filter Properties as stored (a copy). */
  props: Buffer;
}

export interface BlockHeader {
  /** Size of the Block Header field in bytes (8-1024, a multiple of four). */
  headerSize: number;
  /** Size of the Compressed Data field, when the header stores it. */
  compressedSize?: number;
  /** Uncompressed size of the Block, when the header stores it. */
  uncompressedSize?: number;
  /** Filter chain, first (applied last when decoding) to last (LZMA2). */
  filters: BlockFilter[];
}

/**
 * `unsupported` marks a header that is intact (its CRC32 matches) but asks
 * for something this decoder does not know: reserved flag bits, non-null
 * Header Padding, an unknown filter or filter chain, reserved property bits.
 */
export type BlockHeaderError = { error: string; unsupported?: boolean };
export type BlockHeaderResult = BlockHeader | BlockHeaderError;

/** Dictionary size of LZMA2 properties 0-40 (spec 5.3.1). */
export function lzma2DictSize(bits: number): number {
  if (bits === 40) return 0xffffffff;
  return (2 | (bits & 1)) * 2 ** (Math.floor(bits / 2) + 11);
}

function vliError(field: string, error: string): string {
  // decodeVli calls values above 2^53 unsupported; a size that large cannot be
  // real (and cannot match the Index), so here it is plain corruption.
  return /2\^53/.test(error) ? `${field} is too large` : `${field}: ${error}`;
}

function checkFilterProps(filter: BlockFilter, kind: FilterKind): BlockHeaderError | undefined {
  const { id, props } = filter;
  if (id === FILTER_LZMA2) {
    if (props.length !== 1)
      return { error: `LZMA2 Filter Properties are ${props.length} bytes, not 1`, unsupported: true };
    if ((props[0]! & 0xc0) !== 0) return { error: 'LZMA2 Filter Properties have reserved bits set', unsupported: true };
    if (props[0]! > 40) return { error: `LZMA2 dictionary size ${props[0]} is larger than 4 GiB`, unsupported: true };
  } else if (id === FILTER_DELTA) {
    if (props.length !== 1)
      return { error: `Delta Filter Properties are ${props.length} bytes, not 1`, unsupported: true };
  } else if (kind.bcjAlignment !== undefined) {
    if (props.length !== 0 && props.length !== 4) {
      return { error: `${kind.name} Filter Properties are ${props.length} bytes, not 0 or 4`, unsupported: true };
    }
    if (props.length === 4 && props.readUInt32LE(0) % kind.bcjAlignment !== 0) {
      return { error: `${kind.name} start offset ${props.readUInt32LE(0)} is not a multiple of ${kind.bcjAlignment}` };
    }
  }
  return undefined;
}

/**
 * Decodes and checks a Block Header at the start of `buf` (which may hold
 * more, e.g. the whole Block). The CRC32 is checked before anything else is
 * believed, so that damage is told apart from unsupported features.
 */
export function decodeBlockHeader(buf: Uint8Array): BlockHeaderResult {
  if (buf.length < 1) return { error: 'truncated Block Header' };
  if (buf[0] === 0x00) return { error: 'Index Indicator (0x00) where a Block Header should start' };
  const headerSize = (buf[0]! + 1) * 4;
  if (buf.length < headerSize)
    return { error: `truncated Block Header (${headerSize} bytes declared, ${buf.length} present)` };
  const b = Buffer.from(buf.buffer, buf.byteOffset, headerSize);
  const end = headerSize - 4;
  if (crc32(b.subarray(0, end)) !== b.readUInt32LE(end)) return { error: 'Block Header CRC32 mismatch' };

  const flags = b[1]!;
  if ((flags & 0x3c) !== 0) return { error: 'Block Flags have reserved bits set', unsupported: true };
  const filterCount = (flags & 0x03) + 1;
  const header: BlockHeader = { headerSize, filters: [] };
  let pos = 2;
  if (flags & 0x40) {
    const v = decodeVli(b, pos, end);
    if ('error' in v) return { error: vliError('Compressed Size', v.error) };
    if (v.value === 0) return { error: 'Compressed Size is zero' };
    header.compressedSize = v.value;
    pos += v.size;
  }
  if (flags & 0x80) {
    const v = decodeVli(b, pos, end);
    if ('error' in v) return { error: vliError('Uncompressed Size', v.error) };
    header.uncompressedSize = v.value;
    pos += v.size;
  }
  for (let i = 0; i < filterCount; i++) {
    const id = decodeVli(b, pos, end);
    if ('error' in id) {
      if (/2\^53/.test(id.error))
        return { error: `Filter ${i}: Filter ID beyond 2^53 (reserved or custom)`, unsupported: true };
      return { error: `Filter ${i}: Filter ID: ${id.error}` };
    }
    pos += id.size;
    const size = decodeVli(b, pos, end);
    if ('error' in size) return { error: vliError(`Filter ${i}: Size of Properties`, size.error) };
    pos += size.size;
    if (size.value > end - pos) return { error: `Filter ${i}: Filter Properties extend past the Block Header` };
    header.filters.push({ id: id.value, props: Buffer.from(b.subarray(pos, pos + size.value)) });
    pos += size.value;
  }
  for (let p = pos; p < end; p++) {
    if (b[p] !== 0) return { error: 'Block Header Padding is not zero (unknown field?)', unsupported: true };
  }

  // The filters themselves and the chain (spec 5.2, 5.3): every filter known,
  // LZMA2 last and only last; the BCJ and Delta filters may not be last.
  for (const [i, f] of header.filters.entries()) {
    const kind = FILTERS.get(f.id);
    if (!kind) return { error: `unsupported ${filterName(f.id)}`, unsupported: true };
    const last = i === header.filters.length - 1;
    if (last !== (f.id === FILTER_LZMA2)) {
      return {
        error: last ? `${kind.name} cannot be the last filter` : 'LZMA2 can only be the last filter',
        unsupported: true,
      };
    }
    const bad = checkFilterProps(f, kind);
    if (bad) return bad;
  }
  return header;
}

/** What the Index says about a Block (an XzBlockInfo fits). */
export interface BlockIndexRecord {
  unpaddedSize: number;
  uncompressedSize: number;
  checkId: number;
}

/**
 * Checks a decoded Block Header against the Block's Index record: the sizes
 * stored in the header must agree, and the Block must have room for its
 * header, at least one byte of Compressed Data and the Check.
 * Returns a description of the disagreement, or undefined.
 */
export function checkBlockHeaderAgainstIndex(header: BlockHeader, record: BlockIndexRecord): string | undefined {
  const check = checkSize(record.checkId);
  const room = record.unpaddedSize - header.headerSize - check;
  if (room < 1)
    return (
      `Index gives the Block ${record.unpaddedSize} bytes, ` +
      `too few for its ${header.headerSize}-byte header and ${check}-byte Check`
    );
  if (header.compressedSize !== undefined && header.compressedSize !== room) {
    return `Block Header says Compressed Size ${header.compressedSize}, Index implies ${room}`;
  }
  if (header.uncompressedSize !== undefined && header.uncompressedSize !== record.uncompressedSize) {
    return `Block Header says Uncompressed Size ${header.uncompressedSize}, Index says ${record.uncompressedSize}`;
  }
  if (header.filters[header.filters.length - 1]?.id === FILTER_LZMA2) {
    const [min, max] = lzma2DataBounds(record.uncompressedSize);
    if (room < min || room > max) {
      return (
        `Index says ${record.uncompressedSize} uncompressed bytes, but the Block has ${room} bytes of LZMA2 data ` +
        `(that many take ${min === max ? `exactly ${min}` : `${min} to ${max}`})`
      );
    }
  }
  return undefined;
}

/**
 * How many bytes of LZMA2 data can decode to `size` bytes (the other
 * filters keep sizes): what lets a reader catch an Index that understates
 * or overstates a Block without decoding it. Exact for an empty Block (the
 * end marker alone, since every chunk holds at least one byte); otherwise
 * loose but safe bounds from the chunk format: each chunk holds at most
 * 2 MiB and takes at least 4 bytes; a chunk costs at most 11 bytes (header,
 * range coder start) plus about 10 per byte it holds (an LZMA symbol costs at
 * most ~6 bits per decision, and liblzma requires the packed size to be used
 * exactly), so 64 per byte leaves a wide margin.
 */
export function lzma2DataBounds(size: number): [number, number] {
  if (size === 0) return [1, 1];
  return [1 + 4 * Math.ceil(size / 2 ** 21), 1 + 64 * size];
}
