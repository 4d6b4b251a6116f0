import type { TarPlan } from './tar-plan.js';

/**
 * How the tar stream is cut into xz Blocks (see docs/layout.md).
 *
 * - Every Block starts at a member's first header, except the continuation
 *   Blocks of a large member. A reader that decodes the start of a Block
 *   finds a header there, and since members are sorted, a binary search over
 *   Block starts finds any member by path.
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

export function planBlocks(plan: TarPlan, opts: LayoutOptions): BlockRange[] {
  const blocks: BlockRange[] = [];
  let start = 0;
  let end = 0;
  const close = () => {
    if (end > start) blocks.push({ start, end });
    start = end;
  };
  for (const m of plan.members) {
    const size = m.end - m.offset;
    if (size >= opts.blockSize) {
      close();
      const parts = Math.ceil(size / opts.largeBlockSize);
      const partSize = Math.ceil(size / parts);
      for (let p = 0; p < parts; p++) {
        end = Math.min(m.offset + (p + 1) * partSize, m.end);
        close();
      }
      continue;
    }
    if (end - start + size > opts.blockSize) close();
    end = m.end;
  }
  // The trailer joins the last Block (a Block of zeros alone would be a waste).
  if (end > start || blocks.length === 0) {
    end = plan.size;
    close();
  } else {
    blocks[blocks.length - 1]!.end = plan.size;
  }
  return blocks;
}
