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
 * A stream larger than `blockSize` therefore always has more than one Block
 * (what debuginfod calls seekable): the root directory entries come before
 * any large member.
 */
export interface LayoutOptions {
  blockSize: number;
  largeBlockSize: number;
}

export interface BlockRange {
  start: number;
  end: number;
}

/**
 * The layout rule, fed one member at a time (offset of its first header,
 * offset past its padded data), so it can cut a stream it reads as it goes
 * (repack) as well as a planned one (pack). Returns the Block boundaries
 * that the member fixes, in increasing order.
 */
export class BlockPlanner {
  readonly #opts: LayoutOptions;
  #start = 0;
  /** The previous member was large: the next one starts a new Block (the trailer instead joins its last part). */
  #afterLarge = false;

  constructor(opts: LayoutOptions) {
    this.#opts = opts;
  }

  /** Offsets at which a Block ends because of this member; each also starts the next Block. */
  addMember(offset: number, end: number): number[] {
    const cuts: number[] = [];
    if (this.#afterLarge) {
      cuts.push(offset);
      this.#start = offset;
      this.#afterLarge = false;
    }
    const size = end - offset;
    if (size >= this.#opts.blockSize) {
      if (offset > this.#start) cuts.push(offset);
      const parts = Math.ceil(size / this.#opts.largeBlockSize);
      const partSize = Math.ceil(size / parts);
      for (let p = 1; p < parts; p++) cuts.push(offset + p * partSize);
      this.#start = offset;
      this.#afterLarge = true;
    } else if (offset - this.#start + size > this.#opts.blockSize && offset > this.#start) {
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

export function planBlocks(members: readonly { offset: number; end: number }[], size: number, opts: LayoutOptions): BlockRange[] {
  const planner = new BlockPlanner(opts);
  const cuts: number[] = [];
  for (const m of members) cuts.push(...planner.addMember(m.offset, m.end));
  return rangesFromCuts(cuts, size);
}
