/**
 * Inspects one ELF member of a multi-Block tarball by random access: only
 * the Blocks that hold the ranges inspectElf asks for (ELF header, section
 * header table, note sections, section names) are decoded, not the member
 * in between. A header walk uses it for the large members it skips.
 */
import { inspectElf, type ByteSource, type ElfInfo } from '../elf/index.js';
import { CAPTURE_HEAD_BYTES } from '../elf/capture.js';
import { fits } from '../elf/source.js';
import type { TarEntry } from '../tar/parse.js';
import type { XzRandomAccess } from '../xz/random-access.js';

export interface ElfAtOptions {
  /** Largest sum of uncompressed Block sizes one fetch may decode. Default 64 MiB. */
  maxDecodePerFetch?: number;
  /** Rounds of "inspect, fetch what was missing". Default 4. */
  rounds?: number;
}

/** Ranges of one file, some known; reads of the others are recorded. */
class SparseSource implements ByteSource {
  readonly pieces: { start: number; data: Buffer }[] = [];
  missing: [number, number][] = [];

  constructor(
    readonly size: number,
    private readonly base: ByteSource | undefined,
  ) {}

  /** The bytes when they are known; nothing is recorded. */
  peek(offset: number, length: number): Buffer | undefined {
    if (!fits(offset, length, this.size)) return undefined;
    const fromBase = this.base?.read(offset, length);
    if (fromBase !== undefined) return fromBase;
    for (const p of this.pieces) {
      if (p.start <= offset && offset + length <= p.start + p.data.length)
        return p.data.subarray(offset - p.start, offset - p.start + length);
    }
    return undefined;
  }

  read(offset: number, length: number): Buffer | undefined {
    const data = this.peek(offset, length);
    if (data === undefined && fits(offset, length, this.size)) this.missing.push([offset, offset + length]);
    return data;
  }

  want(offset: number, length: number): void {
    if (length > 0 && fits(offset, length, this.size)) this.missing.push([offset, offset + length]);
  }
}

function merge(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/**
 * The ELF inspection of `entry` (a regular member), or undefined when it is
 * not ELF or the Blocks it would take are too large. `known` supplies bytes
 * already seen in the stream (e.g. the member's start).
 */
export async function inspectElfAt(
  ra: XzRandomAccess,
  entry: TarEntry,
  known?: ByteSource,
  options: ElfAtOptions = {},
): Promise<ElfInfo | undefined> {
  const limit = options.maxDecodePerFetch ?? 64 << 20;
  const src = new SparseSource(entry.size, known);
  src.missing.push([0, Math.min(entry.size, CAPTURE_HEAD_BYTES)]);
  let info: ElfInfo | undefined;
  try {
    for (let round = 0; round <= (options.rounds ?? 4); round++) {
      const wanted = merge(src.missing.filter(([s, e]) => src.peek(s, e - s) === undefined));
      src.missing = [];
      for (const [s, e] of wanted) {
        const blocks = ra.blocksCovering(entry.dataOffset + s, e - s);
        const cost = blocks.reduce((n, i) => n + ra.blocks[i]!.uncompressedSize, 0);
        if (cost > limit) return info;
        src.pieces.push({ start: s, data: await ra.read(entry.dataOffset + s, e - s) });
      }
      info = inspectElf(src);
      if (info === undefined || info.incomplete === undefined || src.missing.length === 0) return info;
    }
    return info;
  } finally {
    ra.clearCache();
  }
}
