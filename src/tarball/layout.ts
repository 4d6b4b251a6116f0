/**
 * How a tar stream is cut into xz Blocks (see docs/layout.md).
 *
 * - Every Block starts at a member's first header, except the continuation
 *   Blocks of a large member. A reader that decodes the start of a Block
 *   finds a header there, and since packdebug sorts members, a binary search
 *   over Block starts finds any member by path.
 * - Small members are grouped until a Block holds `blockSize` bytes, so the
 *   bytes decoded to reach any member are at most `blockSize` plus its size.
 * - A member of `blockSize` bytes or more starts a Block of its own and is
 *   split into equal parts of at most `largeBlockSize`; the next member
 *   starts a new Block.
 *
 * - Sources (usr/src/debug) may have limits of their own (`sources`): with
 *   large Blocks for debug files (the size-leaning setting), they keep small
 *   ones, since debuggers fetch them one file at a time.
 *
 * A stream larger than `blockSize` therefore always has more than one Block
 * (what debuginfod calls seekable): the root directory entries come before
 * any large member.
 */
import { PackdebugError } from '../errors.js';

/**
 * Default target size of a Block of small members (chosen by measurement,
 * see docs/layout.md): 2 MiB less 64 KiB, the allowance for the header
 * probes of the binary search, so that reading any member decodes at most
 * its own size plus 2 MiB.
 */
export const DEFAULT_BLOCK_SIZE = (2 << 20) - (64 << 10);
export const MIN_BLOCK_SIZE = 4096;

/**
 * One Block of at most `limit` bytes of tar is what pack itself writes for a
 * small package: a reader decodes no more of it than of one Block of a
 * seekable tarball, so it is in the layout and repack leaves it alone.
 */
export function isOneSmallBlock(blocks: number, uncompressedSize: number, limit = DEFAULT_BLOCK_SIZE): boolean {
  return blocks === 1 && uncompressedSize <= limit;
}

/**
 * Parts of large members: twice the Block size, at most the preset's
 * dictionary (a larger part cannot compress better) and at least the Block
 * size. Measured (docs/layout.md): 4 MiB parts for 2 MiB Blocks pack faster
 * than 8 MiB ones (shorter idle tail on two cores) in less memory, for 0.6 %
 * more bytes.
 */
export function defaultLargeBlockSize(blockSize: number, presetDict: number): number {
  return Math.max(blockSize, Math.min(2 * blockSize, presetDict));
}

export interface GroupLimits {
  /** Small members are grouped into Blocks of at most this many bytes. */
  blockSize: number;
  /** Members of at least blockSize bytes get Blocks of their own, in parts of at most this many bytes. */
  largeBlockSize: number;
}

export interface LayoutOptions extends GroupLimits {
  /**
   * Limits for the sources (members outside usr/lib/debug), when they differ:
   * debuggers fetch sources one file at a time, so they keep small Blocks
   * when debug files get large ones (the size-leaning setting).
   */
  sources?: GroupLimits;
}

/** What the user may set; see resolveLayout. */
export interface LayoutSettings {
  blockSize?: number;
  largeBlockSize?: number;
  /** Default: the smaller of blockSize and DEFAULT_BLOCK_SIZE. */
  sourceBlockSize?: number;
}

/** The layout for the given settings and the preset's dictionary size, validated. */
export function resolveLayout(settings: LayoutSettings, presetDict: number): LayoutOptions {
  const blockSize = settings.blockSize ?? DEFAULT_BLOCK_SIZE;
  const sourceBlockSize = settings.sourceBlockSize ?? Math.min(blockSize, DEFAULT_BLOCK_SIZE);
  for (const [what, value] of [
    ['block size', blockSize],
    ['source block size', sourceBlockSize],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < MIN_BLOCK_SIZE)
      throw new PackdebugError('E_USAGE', `invalid ${what} ${value}: at least ${MIN_BLOCK_SIZE} bytes`);
  }
  const largeBlockSize = settings.largeBlockSize ?? defaultLargeBlockSize(blockSize, presetDict);
  if (!Number.isSafeInteger(largeBlockSize) || largeBlockSize < blockSize) {
    throw new PackdebugError(
      'E_USAGE',
      `invalid large-member block size ${largeBlockSize}: at least the block size (${blockSize})`,
    );
  }
  const layout: LayoutOptions = { blockSize, largeBlockSize };
  if (sourceBlockSize !== blockSize) {
    layout.sources = {
      blockSize: sourceBlockSize,
      largeBlockSize: Math.max(sourceBlockSize, Math.min(largeBlockSize, 2 * sourceBlockSize)),
    };
  }
  return layout;
}

export interface BlockRange {
  start: number;
  end: number;
}

/**
 * Debug files live under usr/lib/debug; everything before them (usr/src/debug, the parent directories) counts
 * as sources.
 */
function isSourceMember(name: string | undefined): boolean {
  return name === undefined || !/^(\.\/|\/)?usr\/lib\//.test(name);
}

/**
 * The layout rule, fed one member at a time (offset of its first header,
 * offset past its padded data, name), so it can cut a stream it reads as it
 * goes (repack) as well as a planned one (pack). Returns the Block
 * boundaries that the member fixes, in increasing order.
 */
export class BlockPlanner {
  readonly #opts: LayoutOptions;
  #start = 0;
  /** The previous member was large: the next one starts a new Block (the trailer instead joins its last part). */
  #afterLarge = false;
  #inSources: boolean | undefined;

  constructor(opts: LayoutOptions) {
    this.#opts = opts;
  }

  /** Offsets at which a Block ends because of this member; each also starts the next Block. */
  addMember(offset: number, end: number, name?: string): number[] {
    const cuts: number[] = [];
    let limits: GroupLimits = this.#opts;
    if (this.#opts.sources) {
      const inSources = isSourceMember(name);
      // Sources and debug files with different limits never share a Block.
      if (this.#inSources !== undefined && inSources !== this.#inSources && offset > this.#start && !this.#afterLarge) {
        cuts.push(offset);
        this.#start = offset;
      }
      this.#inSources = inSources;
      if (inSources) limits = this.#opts.sources;
    }
    if (this.#afterLarge) {
      cuts.push(offset);
      this.#start = offset;
      this.#afterLarge = false;
    }
    const size = end - offset;
    if (size >= limits.blockSize) {
      if (offset > this.#start) cuts.push(offset);
      const parts = Math.ceil(size / limits.largeBlockSize);
      const partSize = Math.ceil(size / parts);
      for (let p = 1; p < parts; p++) cuts.push(offset + p * partSize);
      this.#start = offset;
      this.#afterLarge = true;
    } else if (offset - this.#start + size > limits.blockSize && offset > this.#start) {
      cuts.push(offset);
      this.#start = offset;
    }
    return cuts;
  }
}

/** Cuts [0, size) at the given increasing boundaries. */
export function rangesFromCuts(cuts: readonly number[], size: number): BlockRange[] {
  const ranges: BlockRange[] = [];
  let start = 0;
  for (const cut of cuts) {
    if (cut <= start || cut >= size) continue;
    ranges.push({ start, end: cut });
    start = cut;
  }
  ranges.push({ start, end: size });
  return ranges;
}

export function planBlocks(
  members: readonly { offset: number; end: number; name?: string }[],
  size: number,
  opts: LayoutOptions,
): BlockRange[] {
  const planner = new BlockPlanner(opts);
  const cuts: number[] = [];
  for (const m of members) cuts.push(...planner.addMember(m.offset, m.end, m.name));
  return rangesFromCuts(cuts, size);
}
