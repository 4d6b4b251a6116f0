import { isOneSmallBlock } from './layout.js';
import { TarParser, type TarEntry, type TarVisitor } from '../tar/parse.js';
import { PackdebugError } from '../errors.js';
import { type BlockChunkConsumer, XzRandomAccess, type XzRandomAccessOptions } from '../xz/random-access.js';
import { decodeWithXzProcess, XzFailedError, XzMissingError } from '../xz/xz-process.js';
import { MemberLocator } from './locate.js';
import type { IndexedMember } from './member-index.js';
import { comparedWith, sameMemberName } from './order.js';

/** Receives a member's data as it is decoded: `begin` with its entry, then the chunks. */
export interface Sink {
  /**
   * A member's data begins: whatever was written before is dropped (a
   * candidate may turn out wrong). False: this member's data is not wanted
   * (the search stops at its header; the caller reads it later if need be).
   */
  begin?(entry: TarEntry): void | false;
  write(chunk: Buffer): void;
  /**
   * A promise while the output is busy (a slow pipe, a disk behind), else
   * nothing. Every producer asks after each chunk it writes and waits for
   * it, pausing the decoder (xz's pipe, liblzma's stream): what is held
   * stays near one chunk plus the output's buffer, whatever the member's size.
   */
  drained?(): Promise<void> | void;
}

/** After a chunk was written: continue (`more`) at once, or once the sink has room. */
function whenDrained(sink: Sink | undefined, more: () => boolean): boolean | Promise<boolean> {
  const busy = sink?.drained?.();
  return busy ? busy.then(more) : more();
}

export interface FoundMember {
  entry: TarEntry;
  /**
   * 'index': through the sorted Block layout; 'cache': through a cached member
   * index of a Block-aligned tarball in another order; 'scan': by reading the
   * archive from its start.
   */
  via: 'index' | 'cache' | 'scan';
}

/**
 * Reads members of a .tar.xz: through the Block layout when the tarball is
 * seekable, by a sequential scan otherwise.
 */
export class TarballReader {
  readonly path: string;
  readonly ra: XzRandomAccess;
  readonly locator: MemberLocator;

  private constructor(path: string, ra: XzRandomAccess) {
    this.path = path;
    this.ra = ra;
    this.locator = new MemberLocator(ra);
  }

  /** Environment for the member index cache (see member-index.ts); tests point it elsewhere. */
  env: NodeJS.ProcessEnv = process.env;
  #members: Promise<IndexedMember[] | undefined> | undefined;

  static async open(path: string, env?: NodeJS.ProcessEnv, options?: XzRandomAccessOptions): Promise<TarballReader> {
    return TarballReader.over(await XzRandomAccess.open(path, options), env);
  }

  /** A reader over an open XzRandomAccess (a tarball on a mirror, say), which it closes with itself. */
  static over(ra: XzRandomAccess, env?: NodeJS.ProcessEnv): TarballReader {
    const reader = new TarballReader(ra.path, ra);
    if (env) reader.env = env;
    return reader;
  }

  /**
   * Every member with its offsets and build-id, for a tarball whose Blocks
   * start at headers but whose members are not in packdebug's order (a
   * repacked Portage tarball): from the cache, else built by one full scan
   * and cached. Undefined when such an index would not help (not aligned).
   */
  members(): Promise<IndexedMember[] | undefined> {
    this.#members ??= (async () => {
      const layout = await this.locator.layout();
      if (!layout.aligned || layout.sorted) return undefined;
      // Loaded here: a sorted tarball (what pack writes) never needs it, and extract's start-up counts.
      const { buildMemberIndex, cachedMemberIndex } = await import('./member-index.js');
      // The cache keys records by a local file's stamp: a remote tarball is indexed afresh.
      if (!this.ra.local) return buildMemberIndex(this);
      return cachedMemberIndex(this.path, () => buildMemberIndex(this), this.env);
    })();
    return this.#members;
  }

  async close(): Promise<void> {
    await this.ra.close();
  }

  /** More than one Block and the Stream Footer last: what debuginfod 0.192+ seeks in. */
  get seekable(): boolean {
    return this.ra.blocks.length > 1 && this.ra.layout.footerLast;
  }

  #sequentialScans = 0;

  /** How often this reader read the archive from its start (scan, or building a member index). */
  get sequentialScans(): number {
    return this.#sequentialScans;
  }

  /** One Block small enough to read whole, as pack writes for a small package: seeking would gain nothing. */
  get oneSmallBlock(): boolean {
    return isOneSmallBlock(this.ra.blocks.length, this.ra.size);
  }

  /** Uncompressed bytes produced for this reader, by in-process decoding and by xz(1) scans. */
  get bytesDecoded(): number {
    return this.ra.bytesDecoded + this.#scanned;
  }

  #scanned = 0;

  /**
   * Hands the uncompressed tar stream from `offset` to `consumer`, Block by
   * Block, until it returns false or the stream ends. `until`, when known,
   * is where the consumer will stop (so the decoder need not run far past it);
   * a function is asked again before each Block, and a Block that starts at
   * or after it is not started.
   */
  async streamFrom(
    offset: number,
    consumer: BlockChunkConsumer,
    until: number | (() => number) = Infinity,
    betweenBlocks?: () => Promise<void>,
  ): Promise<void> {
    const blocks = this.ra.blocks;
    if (blocks.length === 0 || offset >= this.ra.size) return;
    let skip = offset - blocks[this.ra.blockIndexAt(Math.min(offset, this.ra.size - 1))]!.uncompressedOffset;
    for (let i = this.ra.blockIndexAt(Math.min(offset, this.ra.size - 1)); i < blocks.length; i++) {
      let stop = false;
      const block = blocks[i]!;
      const end = typeof until === 'function' ? until() : until;
      if (block.uncompressedOffset > offset && end <= block.uncompressedOffset) return;
      await this.ra.streamBlock(
        i,
        (chunk) => {
          if (skip >= chunk.length) {
            skip -= chunk.length;
            return true;
          }
          const part = skip > 0 ? chunk.subarray(skip) : chunk;
          skip = 0;
          const more = consumer(part);
          if (more instanceof Promise) return more.then((v) => !(stop ||= v === false));
          if (more === false) stop = true;
          return !stop;
        },
        end - block.uncompressedOffset,
      );
      if (stop) return;
      await betweenBlocks?.();
    }
  }

  /**
   * Reads the whole tar stream from the start into `visitor`. Uses xz(1) in
   * a child process when there is one (2.5 times the speed of the bundled
   * liblzma, and on another core), else the Blocks in-process.
   */
  async scan(visitor: TarVisitor, shouldStop: () => boolean = () => false, sink?: Sink): Promise<void> {
    this.#sequentialScans++;
    const parser = new TarParser(visitor, this.path);
    const feed = (chunk: Buffer) => {
      parser.write(chunk);
      return whenDrained(sink, () => !parser.ended && !shouldStop());
    };
    const counted = (chunk: Buffer) => {
      this.#scanned += chunk.length;
      return feed(chunk);
    };
    if (!(this.ra.local && this.ra.wantsXz(this.ra.size) && (await this.#scanWithXz(counted))))
      await this.streamFrom(0, feed);
    if (!shouldStop()) parser.end();
  }

  /**
   * False when xz(1) cannot be started (the caller decodes in-process). Run
   * through node:child_process, without a version probe first: a sequential
   * extract of a small package's tarball is mostly start-up.
   */
  async #scanWithXz(feed: BlockChunkConsumer): Promise<boolean> {
    try {
      // The file the Index was read from, not whatever the path names now (a repack renamed over it, a symlink
      // swapped in).
      await decodeWithXzProcess({ file: this.ra.openFilePath }, feed);
      return true;
    } catch (err) {
      if (err instanceof XzMissingError) return false;
      if (!(err instanceof XzFailedError)) throw err;
      // Let the in-process decoder name the problem precisely.
      await this.streamFrom(0, () => true);
      throw new PackdebugError('E_FORMAT', `${this.path}: ${err.message}`, { file: this.path });
    }
  }

  /**
   * Finds a member by name (any spelling: `./x`, `x`, `/x`). With `sink`,
   * the member's data is handed over in the same pass, so nothing is decoded twice.
   */
  async find(name: string, sink?: Sink): Promise<FoundMember | undefined> {
    if (this.seekable) {
      const found = await this.findIndexed(name, sink);
      if (found) return { entry: found, via: 'index' };
      // Not where the layout says: authoritative only if the whole file is in the layout.
      if (await this.locator.isSeekableLayout()) return undefined;
      const members = await this.members();
      if (members) {
        const m = members.find((x) => sameMemberName(x.entry.path, name));
        if (!m) return undefined;
        if (sink && (m.entry.type === '0' || m.entry.type === '7')) await this.readData(m.entry, sink);
        return { entry: m.entry, via: 'cache' };
      }
    }
    const match = matcher(name, sink);
    await this.scan(match.visitor, () => match.done, sink);
    return match.found ? { entry: match.found, via: 'scan' } : undefined;
  }

  /**
   * The member through the binary search over Block starts alone: what the
   * sorted layout finds at the cost of a few probes and one Block. Undefined
   * when it is not there or the layout cannot say (see find for the rest).
   */
  async findIndexed(name: string, sink?: Sink): Promise<TarEntry | undefined> {
    if (!this.seekable) return undefined;
    const start = await this.locator.startBlockFor(name);
    return start === undefined ? undefined : this.#scanFrom(this.ra.blocks[start]!.uncompressedOffset, name, sink);
  }

  /** Reads headers from `offset` (a member header) until `name` is found (and read) or passed. */
  async #scanFrom(offset: number, name: string, sink?: Sink): Promise<TarEntry | undefined> {
    const match = matcher(name, sink, true);
    const parser = new TarParser(match.visitor, this.path, offset);
    await this.streamFrom(offset, (chunk) => {
      parser.write(chunk);
      return whenDrained(sink, () => !match.done && !parser.ended);
    });
    return match.found;
  }

  /** Hands a member's data to `sink` (only the Blocks that hold it are decoded). */
  async readData(entry: TarEntry, sink: Sink): Promise<void> {
    let left = entry.size;
    if (sink.begin?.(entry) === false || left === 0) return;
    await this.streamFrom(
      entry.dataOffset,
      (chunk) => {
        const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
        sink.write(part);
        left -= part.length;
        return whenDrained(sink, () => left > 0);
      },
      entry.dataOffset + entry.size,
    );
    await sink.drained?.();
    if (left > 0)
      throw new PackdebugError('E_FORMAT', `${this.path}: member ${entry.path} is truncated`, { file: this.path });
  }
}

/** A visitor that spots `name` and passes its data on; in a sorted archive it stops once members sort after it. */
function matcher(name: string, sink?: Sink, sorted = false) {
  const compare = comparedWith(name);
  const state = {
    found: undefined as TarEntry | undefined,
    done: false,
    visitor: {
      entry(e: TarEntry) {
        if (state.done) return;
        const c = compare(e.path);
        if (c === 0) {
          state.found = e;
          const wanted = sink && (e.type === '0' || e.type === '7') && sink.begin?.(e) !== false;
          if (!wanted || e.size === 0) state.done = true;
        } else if (c > 0 && sorted) {
          state.done = true;
        }
      },
      data(e: TarEntry, chunk: Buffer) {
        if (e === state.found && !state.done) sink?.write(chunk);
      },
      entryEnd(e: TarEntry) {
        if (e === state.found) state.done = true;
      },
    } as TarVisitor,
  };
  return state;
}
