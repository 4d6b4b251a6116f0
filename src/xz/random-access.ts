import { existsSync, type Stats } from 'node:fs';
import { fromSystemError, PackdebugError } from '../errors.js';
import type { ReadAt } from '../util/read-at.js';
import { openRegularFile } from '../util/regular-file.js';
import { decodeBlock, streamAround } from './block-decoder.js';
import { type EncoderBackend, type EncoderChoice, findXz, resolveEncoder } from './block-encoder.js';
import {
  BLOCK_HEADER_SIZE_MAX,
  type BlockHeader,
  checkBlockHeaderAgainstIndex,
  decodeBlockHeader,
  FILTER_ARM64,
  FILTER_LZMA2,
  FILTER_RISCV,
  filterName,
} from './block-header.js';
import {
  isTruncatedXzMagic,
  readXzLayout,
  sniffFormatStrict,
  type XzBlockInfo,
  type XzFileLayout,
} from './file-layout.js';
import { encodeIndex } from './index.js';
import { checkSize, encodeStreamFooter, encodeStreamHeader } from './stream-flags.js';
import { loadLzmaNative, noXzBackend } from './lzma-native.js';
import { decodeLzma2Prefix, NeedMoreInput } from './lzma2-prefix.js';
import { decodeWithXzProcess, isPromise, XzFailedError, XzMissingError } from './xz-process.js';

export interface XzRandomAccessOptions {
  /**
   * Who decodes: 'auto' (default) runs xz(1) in a child process for reads
   * that span at least XZ_MIN_SPAN bytes of a Block (2.5 to 4 times the
   * speed of lzma-native's bundled liblzma 5.2.3, for about 5 ms of process
   * start) and lzma-native for shorter ones (header probes), falling back to
   * lzma-native when there is no xz; 'xz' and 'lzma-native' use only that
   * one. Where lzma-native cannot load (lzma-native.ts), xz(1) decodes what
   * it would have. Whatever is chosen, a Block whose filters lzma-native's
   * liblzma lacks (ARM64, RISC-V) goes to xz(1) when that is new enough,
   * and is E_UNSUPPORTED otherwise.
   */
  backend?: EncoderChoice;
  /**
   * Decoded Blocks kept in memory, in bytes (LRU). Default 64 MiB; 0
   * disables the cache. A Block larger than this (and than
   * WHOLE_BLOCK_MIN) is never held whole: reads stream through it.
   */
  cacheBytes?: number;
  /**
   * Largest piece of compressed data fed to the decoder at once by
   * streamBlock and readBlockPrefix (feeds start small and grow). Default 256 KiB.
   */
  prefixChunk?: number;
  /**
   * With backend 'auto', decodes that span at least this many bytes of a
   * Block go to xz(1). Default XZ_MIN_SPAN (16 KiB), right for a short-lived
   * process such as extract, where loading lzma-native costs more than
   * starting xz; a long scan through many small Blocks (audit) wants more.
   */
  xzMinSpan?: number;
  /** The name used in error messages. Default: the path. */
  name?: string;
  /** Open with O_NOFOLLOW: a symlink swapped in for the file fails (ELOOP) instead of being read through. */
  noFollow?: boolean;
}

const DEFAULT_CACHE_BYTES = 64 << 20;
/**
 * Blocks of at most this size (or of at most cacheBytes, when that is more)
 * are decoded whole by read() and kept in the cache; reads through larger
 * ones stream the Block and keep only the bytes asked for, so that a huge
 * Block (a one-Block `tar -cJf`, 1.5 GiB of zeros in 200 KB) never sits in
 * memory whole.
 */
export const WHOLE_BLOCK_MIN = 4 << 20;
/** Reads of at most this much of a Block's start (header probes) use the small in-process LZMA2 decoder. */
const SMALL_PREFIX = 16 << 10;
/** With backend 'auto', reads of at least this much of a Block go to xz(1) (measured: docs/layout.md). */
export const XZ_MIN_SPAN = 16 << 10;
/**
 * xzMinSpan for a process that reads many tarballs (audit, extract over a
 * tree): lzma-native is loaded once, so short reads stay in-process, and a
 * child process per read would cost more than the decoding.
 */
export const MANY_READS_XZ_MIN_SPAN = 1 << 20;
const DEFAULT_PREFIX_CHUNK = 256 << 10;
/** Compressed bytes read from the file at once while streaming a Block. */
const READ_AHEAD = 256 << 10;
/** The compressed bytes fed to lzma-native at once while the consumer's output is slow (highly compressible data). */
const BUSY_FEED = 1 << 10;
/** Blocks of at most this many compressed bytes are decoded synchronously by lzma-native (see streamBlock). */
const SYNC_DECODE_MAX = 32 << 10;

/** Filters the liblzma 5.2.3 bundled in lzma-native 8 decodes (ARM64 came in 5.4, RISC-V in 5.6). */
const NATIVE_FILTERS = new Set([0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, FILTER_LZMA2]);
/** The XZ Utils release (as major*10000 + minor*100) that first decodes a filter. */
const XZ_FILTER_SINCE = new Map([
  [FILTER_ARM64, 50400],
  [FILTER_RISCV, 50600],
]);

function versionNumber(v: string): number {
  const [a = 0, b = 0] = v.split('.').map(Number);
  return a * 10000 + b * 100;
}

/**
 * Takes one chunk of a Block's data; false stops the decoding. A promise
 * pauses the decoder until it settles (backpressure for a slow writer).
 */
export type BlockChunkConsumer = (chunk: Buffer) => boolean | void | Promise<boolean | void>;

/** The consumer's answer, awaited only when it is a promise (most are not). */
async function answerOf(answer: boolean | void | Promise<boolean | void>): Promise<boolean | void> {
  return isPromise(answer) ? await answer : answer;
}

interface NativeDecoder extends NodeJS.ReadWriteStream {
  destroy(): void;
  cleanup?(): void;
}

/**
 * Random access to the uncompressed data of an .xz file. The structure is
 * read from the end of the file (readXzLayout: every Stream's Footer, Index
 * and Header); reads then decode only the Blocks that cover the requested
 * range, each on its own, after checking its Block Header against the Index.
 *
 * Whole-Block decodes (read, readBlock) verify everything liblzma verifies:
 * the Block Header, Compressed Data, Block Padding, the Check and both
 * sizes. readBlockPrefix stops early and therefore cannot verify the Check.
 *
 * Errors: a damaged or unsupported file is a PackdebugError (E_FORMAT or
 * E_UNSUPPORTED) whose message starts with the file name and, for a Block,
 * says "Block at offset N" (N = the Block's offset in the file). A read that
 * extends past the end of the uncompressed data is a PackdebugError E_FORMAT
 * too (offsets usually come from the data itself, e.g. a tar header, so that
 * is a malformed file, not a programming error); a negative or non-integer
 * offset, length or Block number is a RangeError.
 */
export class XzRandomAccess {
  /** Uncompressed bytes produced by Block decoders (whole and prefix decodes). */
  bytesDecoded = 0;
  /** Block decodes started (whole and prefix); cache hits do not count. */
  blocksDecoded = 0;
  /** How many of blocksDecoded were prefix decodes. */
  prefixDecodes = 0;
  /** How many of blocksDecoded went to xz(1) in a child process. */
  xzDecodes = 0;
  /** Compressed bytes read from the file for Blocks (the layout's reads are not counted). */
  compressedBytesRead = 0;

  private readonly cache = new Map<number, Buffer>();
  private cacheUsed = 0;
  private readonly pending = new Map<number, Promise<Buffer>>();
  private closed = false;

  private constructor(
    readonly path: string,
    readonly name: string,
    private readonly fh: ReadAt,
    readonly layout: XzFileLayout,
    private readonly backend: EncoderChoice,
    private readonly cacheLimit: number,
    private readonly prefixChunk: number,
    private readonly xzMinSpan: number,
  ) {}

  static async open(path: string, options: XzRandomAccessOptions = {}): Promise<XzRandomAccess> {
    // Not a regular file (a FIFO, a device): refused before a byte is read, never waited on.
    const fh = await openRegularFile(path, { name: options.name ?? path, noFollow: options.noFollow });
    return XzRandomAccess.fromSource(fh, path, options);
  }

  /**
   * Random access over any ReadAt (a file, an HTTP resource), which this
   * reader owns from now on (closed with it, or on failure here). With
   * `layout`, the file's structure is taken as given (a build-id index
   * records the Blocks that hold a member) and nothing is read before the
   * first Block: the Blocks are still checked against it as they are read.
   */
  static async fromSource(
    source: ReadAt,
    path: string,
    options: XzRandomAccessOptions = {},
    layout?: XzFileLayout,
  ): Promise<XzRandomAccess> {
    const name = options.name ?? path;
    const cacheLimit = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    const prefixChunk = options.prefixChunk ?? DEFAULT_PREFIX_CHUNK;
    try {
      if (!(cacheLimit >= 0)) throw new RangeError(`cacheBytes must be >= 0, not ${cacheLimit}`);
      if (!(Number.isInteger(prefixChunk) && prefixChunk > 0))
        throw new RangeError(`prefixChunk must be a positive integer, not ${prefixChunk}`);
      const backend = options.backend ?? 'auto';
      // An explicit 'xz' must be usable; 'auto' finds out on first use.
      if (backend === 'xz') await resolveEncoder('xz');
      if (!layout) {
        // readXzLayout rejects anything without the xz magic too; this names
        // damaged lzip and LZMA_Alone files the way liblzma would see them.
        const head = Buffer.alloc(16);
        const { bytesRead } = await source.read(head, 0, head.length, 0);
        const kind =
          bytesRead > 0 && !isTruncatedXzMagic(head.subarray(0, bytesRead))
            ? sniffFormatStrict(head.subarray(0, bytesRead))
            : 'xz';
        if (kind !== 'xz') {
          throw new PackdebugError(
            'E_FORMAT',
            `${name}: ${kind ? `is ${kind} data, not xz` : 'not an xz file (bad magic)'}`,
            { file: name },
          );
        }
        layout = await readXzLayout(source, name);
      }
      return new XzRandomAccess(
        path,
        name,
        source,
        layout,
        backend,
        cacheLimit,
        prefixChunk,
        options.xzMinSpan ?? XZ_MIN_SPAN,
      );
    } catch (err) {
      await source.close().catch(() => undefined);
      throw err instanceof PackdebugError || err instanceof RangeError ? err : fromSystemError(err, name, 'reading');
    }
  }

  /** The bytes are a local file (a child process can read it through openFilePath). */
  get local(): boolean {
    return this.fh.fd !== undefined;
  }

  /**
   * A path to the very file this reader has open (Linux: /proc/PID/fd/N), for
   * a child process that must read it whole: whatever has since been renamed
   * over the path or swapped in as a symlink. The path itself elsewhere.
   */
  get openFilePath(): string {
    return (this.fh.fd !== undefined ? procFdPath(this.fh.fd) : undefined) ?? this.path;
  }

  /** fstat of the open file: the one read, whatever the path names now. */
  stat(): Promise<Stats> {
    if (!this.local) throw new Error(`${this.name}: stat() of a source that is not a local file`);
    return this.fh.stat() as Promise<Stats>;
  }

  /** Size of the uncompressed data (all Streams). */
  get size(): number {
    return this.layout.uncompressedSize;
  }

  /** Bytes of decoded Blocks held in the cache now (at most the cacheBytes option). */
  get cachedBytes(): number {
    return this.cacheUsed;
  }

  get blocks(): readonly XzBlockInfo[] {
    return this.layout.blocks;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    this.cacheUsed = 0;
    await Promise.allSettled(this.pending.values());
    await this.fh.close();
  }

  /** Index of the Block that holds uncompressed byte `offset` (never an empty Block). */
  blockIndexAt(offset: number): number {
    checkInteger('offset', offset);
    if (offset >= this.size) throw this.pastEnd(offset, 1);
    const blocks = this.layout.blocks;
    let lo = 0;
    let hi = blocks.length - 1;
    // The last Block that starts at or before `offset`: Blocks after it start
    // later, so it is not empty (offset < size rules out a trailing empty one).
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (blocks[mid]!.uncompressedOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Indexes of the Blocks a read of [offset, offset+length) decodes. */
  blocksCovering(offset: number, length: number): number[] {
    checkInteger('offset', offset);
    checkInteger('length', length);
    if (offset + length > this.size) throw this.pastEnd(offset, length);
    if (length === 0) return [];
    const out: number[] = [];
    const end = offset + length;
    for (let i = this.blockIndexAt(offset); i < this.layout.blocks.length; i++) {
      const b = this.layout.blocks[i]!;
      if (b.uncompressedOffset >= end) break;
      if (b.uncompressedSize > 0) out.push(i);
    }
    return out;
  }

  /**
   * Uncompressed bytes [offset, offset+length), decoding only the Blocks
   * that cover them: whole (and cached) when small, else streamed from the
   * Block's start to the end of the range, keeping only the range.
   */
  async read(offset: number, length: number): Promise<Buffer> {
    const indexes = this.blocksCovering(offset, length);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    for (const i of indexes) {
      const b = this.layout.blocks[i]!;
      const from = offset + done - b.uncompressedOffset;
      const to = Math.min(b.uncompressedSize, from + length - done);
      if (this.decodesWhole(i)) {
        const data = await this.readBlockShared(i);
        done += data.copy(out, done, from, to);
        continue;
      }
      let pos = 0;
      await this.streamBlock(
        i,
        (chunk) => {
          const end = pos + chunk.length;
          if (end > from) done += chunk.copy(out, done, Math.max(0, from - pos), Math.min(chunk.length, to - pos));
          pos = end;
          return pos < to;
        },
        to,
      );
    }
    if (done !== length) throw new Error(`internal error: read ${done} of ${length} bytes`);
    return out;
  }

  /** Whether read() decodes Block `index` whole (and caches it) rather than streaming through it. */
  private decodesWhole(index: number): boolean {
    if (this.cache.has(index) || this.pending.has(index)) return true;
    return this.layout.blocks[index]!.uncompressedSize <= Math.max(this.cacheLimit, WHOLE_BLOCK_MIN);
  }

  /** The whole decoded Block `index` (a copy the caller may keep or change), however large. */
  async readBlock(index: number): Promise<Buffer> {
    return Buffer.from(await this.readBlockShared(index));
  }

  /**
   * The first `n` uncompressed bytes of Block `index` (fewer if the Block is
   * smaller), decoding no further than needed (see streamBlock).
   */
  async readBlockPrefix(index: number, n: number): Promise<Buffer> {
    checkInteger('n', n);
    if (n === 0) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    let kept = 0;
    await this.streamBlock(
      index,
      (chunk) => {
        const part = chunk.length <= n - kept ? chunk : chunk.subarray(0, n - kept);
        chunks.push(Buffer.from(part));
        kept += part.length;
        return kept < n;
      },
      n,
    );
    return Buffer.concat(chunks, kept);
  }

  /**
   * Hands Block `index`'s uncompressed data to `consumer` chunk by chunk, in
   * order, until the consumer returns false or the Block ends. `wanted` is
   * how much of the Block the caller expects to consume (default: all of
   * it): the first feed of compressed data is sized for that at the Block's
   * average ratio, later feeds double, so stopping early decodes little
   * more than was consumed while a long read needs few round trips to
   * liblzma's thread. The Check is only verified when the whole Block is
   * decoded; the Block Header always is. A Block whose filters lzma-native
   * lacks is streamed through xz(1) (killed once the consumer stops), or,
   * when small, decoded whole and cached. The consumer may return a promise:
   * decoding waits for it.
   */
  async streamBlock(index: number, wholeConsumer: BlockChunkConsumer, wanted = Infinity): Promise<void> {
    let consumer = wholeConsumer;
    const b = this.blockAt(index);
    const cached = this.cache.get(index);
    const whole = async (data: Buffer) => {
      for (let pos = 0; pos < data.length; pos += 1 << 16)
        if ((await answerOf(consumer(data.subarray(pos, Math.min(pos + (1 << 16), data.length))))) === false) return;
    };
    if (cached) return whole(cached);
    if (this.pending.has(index)) return whole(await this.readBlockShared(index));
    this.assertOpen();
    // The first feed of compressed data is sized for `wanted` at the Block's average ratio.
    const span = Math.min(wanted, b.uncompressedSize);
    const firstFeed = Math.min(
      this.prefixChunk,
      Math.max(64, Math.ceil(span * (b.totalSize / Math.max(1, b.uncompressedSize)) * 1.25)),
    );
    let buffered = await this.readFile(b, 0, Math.min(b.totalSize, BLOCK_HEADER_SIZE_MAX + 2 * firstFeed));
    const header = this.checkHeader(b, buffered);
    if (!header.filters.every((f) => NATIVE_FILTERS.has(f.id))) {
      // lzma-native lacks this filter: xz(1) decodes it, whole when small, else as far as the consumer reads.
      if (this.decodesWhole(index)) return whole(await this.readBlockShared(index));
      await this.backendFor(b, header);
      this.blocksDecoded++;
      this.prefixDecodes++;
      if (await this.streamWithXz(b, buffered, consumer)) return;
      throw this.blockError(
        b,
        `uses the ${filterName(header.filters[0]!.id)} filter, which needs xz(1) (not found)`,
        true,
      );
    }
    this.blocksDecoded++;
    this.prefixDecodes++;
    if (
      span < b.uncompressedSize &&
      span <= SMALL_PREFIX &&
      header.filters.length === 1 &&
      header.filters[0]!.id === FILTER_LZMA2
    ) {
      const prefix = await this.smallPrefix(b, header.headerSize, buffered, firstFeed, span);
      this.bytesDecoded += prefix.length;
      if ((await answerOf(consumer(prefix))) === false) return;
      // The consumer wants more after all: decode the Block again from its start, past what it has.
      let skip = prefix.length;
      consumer = (chunk) => {
        if (skip >= chunk.length) {
          skip -= chunk.length;
          return true;
        }
        const rest = skip > 0 ? chunk.subarray(skip) : chunk;
        skip = 0;
        return wholeConsumer(rest);
      };
    }
    if (this.wantsXz(span) && (await this.streamWithXz(b, buffered, consumer))) return;
    const native = loadLzmaNative();
    if (!native) {
      if (await this.streamWithXz(b, buffered, consumer)) return;
      throw noXzBackend('decode');
    }
    let got = 0;
    let stopped = false;
    let failure: unknown;
    // A consumer's promise not settled yet: the decoder is paused until it is.
    let waiting: Promise<void> | undefined;
    // Once the consumer was busy, feeds stay small: liblzma does not wait for its output to be read.
    let sawBusy = false;
    // A small Block decodes on this thread: handing it to liblzma's worker thread costs more round trips than decoding.
    const decoder = native.createStream('streamDecoder', {
      synchronous: b.totalSize <= SYNC_DECODE_MAX,
    }) as NativeDecoder;
    const failed = new Promise<never>((_, reject) => {
      decoder.on('error', (err: unknown) => {
        failure ??= err;
        reject(err);
      });
    });
    failed.catch(() => undefined);
    decoder.on('data', (c: Buffer) => {
      got += c.length;
      this.bytesDecoded += c.length;
      if (stopped || got > b.uncompressedSize) return;
      let answer;
      try {
        answer = consumer(c);
      } catch (err) {
        failure ??= err;
        stopped = true;
        return;
      }
      if (answer === false) stopped = true;
      else if (isPromise(answer)) {
        sawBusy = true;
        decoder.pause();
        waiting = answer
          .then(
            (more) => {
              if (more === false) stopped = true;
            },
            (err: unknown) => {
              failure ??= err;
              stopped = true;
            },
          )
          .finally(() => {
            waiting = undefined;
            decoder.resume();
          });
      }
    });
    const feed = async (piece: Buffer) => {
      await Promise.race([new Promise<void>((resolve) => decoder.write(piece, () => resolve())), failed]);
      if (waiting) await waiting;
    };
    try {
      await feed(Buffer.concat([encodeStreamHeader(b.checkId), buffered.subarray(0, header.headerSize)]));
      let bufferedFrom = 0;
      let feedSize = firstFeed;
      for (
        let pos = header.headerSize;
        pos < b.totalSize && !stopped && failure === undefined && got <= b.uncompressedSize;
        pos += feedSize, feedSize = Math.min(feedSize * 2, sawBusy ? BUSY_FEED : this.prefixChunk)
      ) {
        while (waiting) await waiting;
        if (stopped || failure !== undefined) break;
        if (sawBusy) feedSize = Math.min(feedSize, BUSY_FEED);
        const end = Math.min(pos + feedSize, b.totalSize);
        if (end > bufferedFrom + buffered.length) {
          bufferedFrom = pos;
          // Read ahead as far as the next feeds will go, so a long read needs few file reads.
          buffered = await this.readFile(
            b,
            pos,
            Math.min(b.totalSize - pos, Math.max(end - pos, Math.min(READ_AHEAD, 4 * feedSize))),
          );
        }
        await feed(buffered.subarray(pos - bufferedFrom, end - bufferedFrom));
      }
      if (!stopped && failure === undefined) {
        // The whole Block went in: finish the Stream so liblzma checks the Check and sizes.
        const index = encodeIndex([{ unpaddedSize: b.unpaddedSize, uncompressedSize: b.uncompressedSize }]);
        const ended = new Promise<void>((resolve) => decoder.on('end', () => resolve()));
        decoder.end(Buffer.concat([index, encodeStreamFooter(b.checkId, index.length)]));
        await Promise.race([ended, failed]);
        if (waiting) await waiting;
      }
    } catch (err) {
      failure ??= err;
    } finally {
      decoder.destroy();
      // Frees liblzma's state now rather than at garbage collection.
      decoder.cleanup?.();
    }
    if (failure instanceof PackdebugError) throw failure;
    if (failure !== undefined) {
      throw this.blockError(b, `is corrupt: ${(failure as Error).message ?? String(failure)}`, false, failure);
    }
    if (got > b.uncompressedSize)
      throw this.blockError(b, `decodes to more than the ${b.uncompressedSize} bytes the Index says`);
    if (!stopped && got < b.uncompressedSize)
      throw this.blockError(b, `decodes to only ${got} bytes, Index says ${b.uncompressedSize}`);
  }

  /**
   * The first `span` bytes of an LZMA2 Block, by the small in-process
   * decoder (lzma2-prefix.ts): exactly as many bytes as asked for, without
   * loading lzma-native. Compressed input is read in growing pieces.
   */
  private async smallPrefix(
    b: XzBlockInfo,
    headerSize: number,
    head: Buffer,
    firstFeed: number,
    span: number,
  ): Promise<Buffer> {
    const dataSize = b.unpaddedSize - headerSize - checkSize(b.checkId);
    let have = head.subarray(headerSize, Math.min(head.length, headerSize + dataSize));
    for (let n = Math.max(have.length, firstFeed); ; n *= 2) {
      if (have.length < Math.min(n, dataSize)) have = await this.readFile(b, headerSize, Math.min(n, dataSize));
      try {
        return decodeLzma2Prefix(have, span);
      } catch (err) {
        if (err instanceof NeedMoreInput && have.length < dataSize) continue;
        const reason = err instanceof NeedMoreInput ? 'the compressed data ends too early' : (err as Error).message;
        throw this.blockError(b, `is corrupt: ${reason}`, false, err);
      }
    }
  }

  /** xz(1) is known to be missing (backend 'auto' then stays in-process). */
  private xzMissing = false;

  /**
   * Whether a decode spanning this many bytes goes to xz(1) (backend,
   * xzMinSpan, xz found); every decode does where lzma-native cannot load.
   */
  wantsXz(span: number): boolean {
    if (this.backend === 'xz') return true;
    if (this.xzMissing) return false;
    return (this.backend === 'auto' && span >= this.xzMinSpan) || !loadLzmaNative();
  }

  /**
   * streamBlock through xz(1): the Block wrapped in a one-Block Stream, so
   * xz checks the Block Header, the Check and the sizes. The Block goes to
   * xz's stdin piece by piece as the pipe takes it (`head`, the Block's
   * start, already read), and xz is killed once the consumer stops: only as
   * much is read and decoded as the consumer takes, and held in memory only
   * a piece of each. False when there is no xz (unless backend 'xz': the
   * caller decodes in-process instead).
   */
  private async streamWithXz(b: XzBlockInfo, head: Buffer, consumer: BlockChunkConsumer): Promise<boolean> {
    let got = 0;
    let result;
    const { before, after } = streamAround(b);
    const readPiece = (pos: number) => this.readFile(b, pos, Math.min(READ_AHEAD, b.totalSize - pos));
    async function* pieces() {
      yield Buffer.concat([before, head]);
      for (let pos = head.length; pos < b.totalSize; pos += READ_AHEAD) yield await readPiece(pos);
      yield after;
    }
    try {
      this.xzDecodes++;
      result = await decodeWithXzProcess({ pieces: pieces() }, (chunk) => {
        got += chunk.length;
        this.bytesDecoded += chunk.length;
        return got <= b.uncompressedSize && consumer(chunk);
      });
    } catch (err) {
      if (err instanceof XzMissingError) {
        if (this.backend === 'xz')
          throw new PackdebugError('E_IO', `${this.name}: ${err.message}`, { file: this.name, cause: err });
        this.xzMissing = true;
        this.xzDecodes--;
        return false;
      }
      if (err instanceof XzFailedError) throw this.blockError(b, `is corrupt: ${err.message}`, false, err);
      throw err;
    }
    if (got > b.uncompressedSize)
      throw this.blockError(b, `decodes to more than the ${b.uncompressedSize} bytes the Index says`);
    if (!result.stopped && got < b.uncompressedSize)
      throw this.blockError(b, `decodes to only ${got} bytes, Index says ${b.uncompressedSize}`);
    return true;
  }

  /**
   * Reads Block `index`'s header (at most 1 KiB) and checks it against the
   * Index, without decoding anything: a PackdebugError when they disagree.
   */
  async checkBlockHeader(index: number): Promise<void> {
    const b = this.blockAt(index);
    this.assertOpen();
    this.checkHeader(b, await this.readFile(b, 0, Math.min(b.totalSize, BLOCK_HEADER_SIZE_MAX)));
  }

  /** Drops all cached Blocks. */
  clearCache(): void {
    this.cache.clear();
    this.cacheUsed = 0;
  }

  // ---------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.name}: XzRandomAccess used after close()`);
  }

  private blockAt(index: number): XzBlockInfo {
    checkInteger('Block index', index);
    const b = this.layout.blocks[index];
    if (!b) throw new RangeError(`${this.name}: no Block ${index} (the file has ${this.layout.blocks.length})`);
    return b;
  }

  private pastEnd(offset: number, length: number): PackdebugError {
    return new PackdebugError(
      'E_FORMAT',
      `${this.name}: read of ${length} bytes at offset ${offset} ` +
        `goes past the end of the uncompressed data (${this.size} bytes)`,
      { file: this.name },
    );
  }

  private blockError(b: XzBlockInfo, what: string, unsupported = false, cause?: unknown): PackdebugError {
    return new PackdebugError(
      unsupported ? 'E_UNSUPPORTED' : 'E_FORMAT',
      `${this.name}: Block at offset ${b.fileOffset} ${what}`,
      {
        file: this.name,
        cause,
      },
    );
  }

  /** The decoded Block, shared with the cache: callers must not change or hand it out. */
  private readBlockShared(index: number): Promise<Buffer> {
    this.blockAt(index);
    const cached = this.cache.get(index);
    if (cached) {
      // Most recently used goes last.
      this.cache.delete(index);
      this.cache.set(index, cached);
      return Promise.resolve(cached);
    }
    let p = this.pending.get(index);
    if (!p) {
      p = this.decodeWhole(index).finally(() => this.pending.delete(index));
      this.pending.set(index, p);
    }
    return p;
  }

  private async decodeWhole(index: number): Promise<Buffer> {
    this.assertOpen();
    const b = this.layout.blocks[index]!;
    const bytes = await this.readFile(b, 0, b.totalSize);
    const header = this.checkHeader(b, bytes);
    const backend = await this.backendFor(b, header);
    this.blocksDecoded++;
    let out: Buffer;
    try {
      if (backend === 'xz') this.xzDecodes++;
      out = await decodeBlock(bytes, b, this.name, backend);
    } catch (err) {
      if (!(err instanceof XzMissingError)) throw err;
      if (this.backend === 'xz')
        throw new PackdebugError('E_IO', `${this.name}: ${err.message}`, { file: this.name, cause: err });
      this.xzMissing = true;
      this.xzDecodes--;
      // In-process, or the error naming what to install when lzma-native cannot load either.
      out = await decodeBlock(bytes, b, this.name, 'lzma-native');
    }
    this.bytesDecoded += out.length;
    this.remember(index, out);
    return out;
  }

  private checkHeader(b: XzBlockInfo, bytes: Buffer): BlockHeader {
    const header = decodeBlockHeader(bytes);
    if ('error' in header) throw this.blockError(b, `has a bad Block Header: ${header.error}`, header.unsupported);
    const mismatch = checkBlockHeaderAgainstIndex(header, b);
    if (mismatch) throw this.blockError(b, `disagrees with the Index: ${mismatch}`);
    return header;
  }

  private async backendFor(b: XzBlockInfo, header: BlockHeader): Promise<EncoderBackend> {
    const foreign = header.filters.find((f) => !NATIVE_FILTERS.has(f.id));
    if (!foreign) return this.wantsXz(b.uncompressedSize) ? 'xz' : 'lzma-native';
    const since = XZ_FILTER_SINCE.get(foreign.id) ?? Infinity;
    const xz = await findXz();
    if (xz && versionNumber(xz) >= since) return 'xz';
    const need = Number.isFinite(since)
      ? `xz ${Math.floor(since / 10000)}.${(since / 100) % 100} or later`
      : 'a newer xz';
    throw this.blockError(
      b,
      `uses the ${filterName(foreign.id)} filter, which lzma-native's bundled liblzma cannot decode; ` +
        `this needs ${need} on PATH${xz ? ` (found ${xz})` : ''} (unsupported)`,
      true,
    );
  }

  private remember(index: number, data: Buffer): void {
    if (this.closed || data.length > this.cacheLimit) return;
    for (const [i, old] of this.cache) {
      if (this.cacheUsed + data.length <= this.cacheLimit) break;
      this.cache.delete(i);
      this.cacheUsed -= old.length;
    }
    this.cache.set(index, data);
    this.cacheUsed += data.length;
  }

  /** `length` bytes at `offset` within Block `b`. */
  private async readFile(b: XzBlockInfo, offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await this.fh.read(buf, done, length - done, b.fileOffset + offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw fromSystemError(err, this.name, 'reading');
    }
    this.compressedBytesRead += done;
    if (done !== length) throw this.blockError(b, 'extends past the end of the file (truncated or changed while open)');
    return buf;
  }
}

let procFd: boolean | undefined;

function procFdPath(fd: number): string | undefined {
  procFd ??= existsSync(`/proc/${process.pid}/fd`);
  return procFd ? `/proc/${process.pid}/fd/${fd}` : undefined;
}

function checkInteger(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${what} must be a non-negative integer, not ${value}`);
}
