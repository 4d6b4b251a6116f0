import { PackdebugError } from '../errors.js';
import { readFully as readAt, type ReadAt } from '../util/read-at.js';
import { decodeIndexTable, type IndexTable, minUnpaddedSize, padTo4 } from './index.js';
import {
  decodeStreamFooter,
  decodeStreamHeader,
  HEADER_MAGIC,
  sameStreamFlags,
  STREAM_FOOTER_SIZE,
  STREAM_HEADER_SIZE,
} from './stream-flags.js';

/** Where one Block lies, in the file and in the uncompressed data. */
export interface XzBlockInfo {
  stream: number;
  /** Offset of the Block Header in the file. */
  fileOffset: number;
  /** Unpadded Size from the Index. */
  unpaddedSize: number;
  /** Bytes the Block occupies in the file (Unpadded Size rounded up to four). */
  totalSize: number;
  uncompressedOffset: number;
  uncompressedSize: number;
  checkId: number;
}

export interface XzStreamInfo {
  fileOffset: number;
  checkId: number;
  indexOffset: number;
  indexSize: number;
  /** Stream Padding that follows the Stream Footer. */
  padding: number;
  blocks: readonly XzBlockInfo[];
}

export interface XzFileLayout {
  fileSize: number;
  streams: XzStreamInfo[];
  /**
   * Every Stream's Blocks in file order. A read-only array whose elements
   * are made on access from columns of numbers (about 36 bytes a Block): an
   * Index may list millions of Blocks, and what the file holds bounds how
   * many, not what an object each would cost.
   */
  blocks: readonly XzBlockInfo[];
  uncompressedSize: number;
  /** The Stream Footer is the last thing in the file (what debuginfod's seek support wants). */
  footerLast: boolean;
}

/** Locates the Stream Header through the Index and compares its flags with the footer's. */
async function headerDisagrees(fh: ReadAt, end: number, indexSize: number, footerBytes: Buffer): Promise<boolean> {
  const indexOffset = end - STREAM_FOOTER_SIZE - indexSize;
  if (indexSize > INDEX_LIMIT || indexOffset < STREAM_HEADER_SIZE) return false;
  const index = decodeIndexTable(await readAt(fh, indexOffset, indexSize), {
    blocksSpace: indexOffset - STREAM_HEADER_SIZE,
  });
  if ('error' in index) return false;
  let blocksSize = 0;
  for (let i = 0; i < index.count; i++) blocksSize += padTo4(index.unpaddedSizes[i]!);
  const streamOffset = indexOffset - blocksSize - STREAM_HEADER_SIZE;
  if (streamOffset < 0) return false;
  const header = await readAt(fh, streamOffset, STREAM_HEADER_SIZE);
  return !('error' in decodeStreamHeader(header)) && !sameStreamFlags(header, footerBytes);
}

/** Where each Block lies, a column per field (see XzFileLayout.blocks). */
class BlockColumns {
  constructor(
    readonly fileOffsets: Float64Array,
    readonly unpaddedSizes: Float64Array,
    readonly uncompressedOffsets: Float64Array,
    readonly uncompressedSizes: Float64Array,
    readonly streamOf: Uint32Array,
    readonly checkIds: readonly number[],
  ) {}

  at(i: number): XzBlockInfo {
    const stream = this.streamOf[i]!;
    return {
      stream,
      fileOffset: this.fileOffsets[i]!,
      unpaddedSize: this.unpaddedSizes[i]!,
      totalSize: padTo4(this.unpaddedSizes[i]!),
      uncompressedOffset: this.uncompressedOffsets[i]!,
      uncompressedSize: this.uncompressedSizes[i]!,
      checkId: this.checkIds[stream]!,
    };
  }
}

function arrayIndex(prop: string | symbol): number | undefined {
  if (typeof prop !== 'string' || prop.length === 0 || prop.length > 16) return undefined;
  const c = prop.charCodeAt(0);
  if (c < 48 || c > 57) return undefined;
  const n = Number(prop);
  return String(n) === prop ? n : undefined;
}

/**
 * Blocks [from, to) of `columns` as a read-only array: indexing, length,
 * iteration and the Array methods work, each element made when read.
 */
function blockList(columns: BlockColumns, from: number, to: number): readonly XzBlockInfo[] {
  const length = to - from;
  return new Proxy<XzBlockInfo[]>([], {
    get(target, prop, receiver) {
      if (prop === 'length') return length;
      const i = arrayIndex(prop);
      if (i !== undefined) return i < length ? columns.at(from + i) : undefined;
      return Reflect.get(target, prop, receiver) as unknown;
    },
    has(target, prop) {
      const i = arrayIndex(prop);
      return i !== undefined ? i < length : Reflect.has(target, prop);
    },
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  });
}

/** The Index is read into memory; refuse absurd sizes from hostile files. */
const INDEX_LIMIT = 256 << 20;

function formatError(name: string, message: string, unsupported = false): PackdebugError {
  return new PackdebugError(unsupported ? 'E_UNSUPPORTED' : 'E_FORMAT', `${name}: ${message}`, { file: name });
}

/**
 * A head shorter than the xz magic that is a prefix of it: an xz file cut
 * within its first six bytes (callers pass the first min(size, 16) bytes,
 * so a short head is the whole file). Damaged xz, not some other format.
 */
export function isTruncatedXzMagic(head: Uint8Array): boolean {
  return head.length > 0 && head.length < HEADER_MAGIC.length && HEADER_MAGIC.subarray(0, head.length).equals(head);
}

/** Names the format of a file that is not xz, for a helpful error. Any length, 0 bytes included. */
export function sniffFormat(head: Uint8Array): string | undefined {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 6 && HEADER_MAGIC.equals(b.subarray(0, 6))) return 'xz';
  if (b.subarray(0, 4).toString('latin1') === 'LZIP') return 'lzip';
  if (b.length >= 13 && b[0]! < 225 && (b[1] === 0 || b.readUInt32LE(1) >= 4096)) return 'lzma';
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return undefined;
}

/**
 * Reads the structure of an .xz file from its end: Stream Footers, Indexes
 * and Stream Headers of every Stream (concatenated Streams and Stream
 * Padding included), without decoding any Block.
 */
export async function readXzLayout(fh: ReadAt, name: string): Promise<XzFileLayout> {
  const fileSize = (await fh.stat()).size;
  const head = await readAt(fh, 0, Math.min(fileSize, 16));
  if (fileSize === 0) throw formatError(name, 'empty file, not xz');
  if (isTruncatedXzMagic(head)) throw formatError(name, 'truncated (too short for a Stream)');
  const kind = sniffFormatStrict(head);
  if (kind !== 'xz') throw formatError(name, kind ? `is ${kind} data, not xz` : 'not an xz file (bad magic)');

  const found: {
    offset: number;
    checkId: number;
    indexOffset: number;
    indexSize: number;
    padding: number;
    index: IndexTable;
  }[] = [];
  let pos = fileSize;
  while (pos > 0) {
    // Stream Padding: null bytes in multiples of four before the end or the next Stream.
    let padding = 0;
    for (;;) {
      if (pos < 4) break;
      const word = await readAt(fh, pos - 4, 4);
      // Short: the file shrank since fstat (a concurrent rewrite); the Footer read below says so.
      if (word.length < 4 || word.readUInt32LE(0) !== 0) break;
      pos -= 4;
      padding += 4;
    }
    if (pos === 0) throw formatError(name, 'only Stream Padding, no Stream');
    if (pos < STREAM_HEADER_SIZE + STREAM_FOOTER_SIZE) throw formatError(name, 'truncated (too short for a Stream)');
    const footerBytes = await readAt(fh, pos - STREAM_FOOTER_SIZE, STREAM_FOOTER_SIZE);
    const footer = decodeStreamFooter(footerBytes);
    if ('error' in footer) {
      // Footer flags we do not know: if the Stream Header disagrees, the file is corrupt, not merely unsupported.
      if (
        footer.unsupported &&
        footer.indexSize !== undefined &&
        (await headerDisagrees(fh, pos, footer.indexSize, footerBytes))
      ) {
        throw formatError(name, 'Stream Header and Stream Footer flags differ');
      }
      throw formatError(
        name,
        found.length === 0 ? `${footer.error} at the end of the file` : footer.error,
        footer.unsupported,
      );
    }
    if (footer.indexSize > INDEX_LIMIT)
      throw formatError(name, `Index of ${footer.indexSize} bytes is too large`, true);
    const indexOffset = pos - STREAM_FOOTER_SIZE - footer.indexSize;
    if (indexOffset < STREAM_HEADER_SIZE) throw formatError(name, 'Backward Size points before the start of the file');
    // The Blocks lie between the Stream Header and the Index: that bounds how many the Index may list.
    const index = decodeIndexTable(await readAt(fh, indexOffset, footer.indexSize), {
      minUnpaddedSize: minUnpaddedSize(footer.checkId),
      blocksSpace: indexOffset - STREAM_HEADER_SIZE,
    });
    if ('error' in index) throw formatError(name, index.error);
    let blocksSize = 0;
    for (let i = 0; i < index.count; i++) blocksSize += padTo4(index.unpaddedSizes[i]!);
    const streamOffset = indexOffset - blocksSize - STREAM_HEADER_SIZE;
    if (streamOffset < 0) throw formatError(name, 'Index describes more data than the file holds');
    const headerBytes = await readAt(fh, streamOffset, STREAM_HEADER_SIZE);
    const header = decodeStreamHeader(headerBytes);
    if ('error' in header)
      throw formatError(name, `${header.error} (Stream at offset ${streamOffset})`, header.unsupported);
    if (!sameStreamFlags(headerBytes, footerBytes))
      throw formatError(name, 'Stream Header and Stream Footer flags differ');
    found.unshift({
      offset: streamOffset,
      checkId: header.checkId,
      indexOffset,
      indexSize: footer.indexSize,
      padding,
      index,
    });
    pos = streamOffset;
    if (pos % 4 !== 0) throw formatError(name, 'Stream Padding is not a multiple of four bytes');
  }

  const count = found.reduce((n, s) => n + s.index.count, 0);
  // One Stream (the usual case) lends its columns; several are joined.
  const joined = (column: (t: IndexTable) => Float64Array) => {
    if (found.length === 1) return column(found[0]!.index);
    const out = new Float64Array(count);
    let at = 0;
    for (const s of found) {
      out.set(column(s.index), at);
      at += s.index.count;
    }
    return out;
  };
  const columns = new BlockColumns(
    new Float64Array(count),
    joined((t) => t.unpaddedSizes),
    new Float64Array(count),
    joined((t) => t.uncompressedSizes),
    new Uint32Array(count),
    found.map((s) => s.checkId),
  );
  const streams: XzStreamInfo[] = [];
  let uncompressed = 0;
  let first = 0;
  found.forEach((s, stream) => {
    let at = s.offset + STREAM_HEADER_SIZE;
    for (let i = first; i < first + s.index.count; i++) {
      columns.fileOffsets[i] = at;
      at += padTo4(columns.unpaddedSizes[i]!);
      columns.uncompressedOffsets[i] = uncompressed;
      uncompressed += columns.uncompressedSizes[i]!;
      if (!Number.isSafeInteger(uncompressed)) throw formatError(name, 'uncompressed size overflows', true);
      columns.streamOf[i] = stream;
    }
    streams.push({
      fileOffset: s.offset,
      checkId: s.checkId,
      indexOffset: s.indexOffset,
      indexSize: s.indexSize,
      padding: s.padding,
      blocks: blockList(columns, first, first + s.index.count),
    });
    first += s.index.count;
  });
  const allBlocks = blockList(columns, 0, count);
  const last = streams[streams.length - 1]!;
  return { fileSize, streams, blocks: allBlocks, uncompressedSize: uncompressed, footerLast: last.padding === 0 };
}

/** liblzma's LZMA_Alone dictionary rule (alone_decoder.c, picky mode): 2^n or 2^n + 2^(n-1). */
function isLzmaAloneDictSize(dict: number): boolean {
  if (dict === 0xffffffff) return true;
  let d = (dict - 1) >>> 0;
  d |= d >>> 2;
  d |= d >>> 3;
  d |= d >>> 4;
  d |= d >>> 8;
  d |= d >>> 16;
  return (d + 1) >>> 0 === dict;
}

/**
 * Like sniffFormat, with the rules liblzma's format auto-detection uses, so
 * that damaged foreign files are named correctly: lzip when three of the
 * four "LZIP" magic bytes and a version byte of 0 or 1 are there (XZ Utils'
 * bad-1-v1-magic-*.lz), and LZMA_Alone only when the properties byte, the
 * dictionary size (2^n or 2^n + 2^(n-1)) and the uncompressed size (unknown
 * or below 2^38) are all what liblzma accepts. sniffFormat's looser LZMA
 * test takes "-ZIP\x01..." for LZMA_Alone.
 */
export function sniffFormatStrict(head: Uint8Array): string | undefined {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 6 && HEADER_MAGIC.equals(b.subarray(0, 6))) return 'xz';
  if (b.length >= 5) {
    let same = 0;
    for (let i = 0; i < 4; i++) if (b[i] === 'LZIP'.charCodeAt(i)) same++;
    if (same === 4 || (same === 3 && b[4]! <= 1)) return 'lzip';
  }
  if (b.length >= 13 && b[0]! < 225 && isLzmaAloneDictSize(b.readUInt32LE(1))) {
    const size = b.readBigUInt64LE(5);
    if (size === 0xffffffffffffffffn || size < 1n << 38n) return 'lzma';
  }
  const other = sniffFormat(b);
  return other === 'lzma' ? undefined : other;
}
