import { TarParser, type TarEntry } from '../tar/parse.js';
import { paddedSize } from '../tar/header.js';
import type { XzRandomAccess } from '../xz/random-access.js';
import { compareMemberNames } from './order.js';

/** What the start of a Block holds: a member header, or the middle of a large member. */
interface BlockProbe {
  entry: TarEntry | undefined;
}

export interface LocateStats {
  probes: number;
}

/** How much of a Block's start to decode to read its first header (pax headers included). */
const PROBE_BYTES = [512, 1536, 16384, 65536, 1 << 20];

/**
 * Finds members of a packdebug tarball without decoding it: Blocks start at
 * member headers and members are sorted, so a binary search over the first
 * header of each Block narrows any name down to one Block. Other tarballs
 * (one Block, or Blocks cut anywhere) are detected, and the caller falls back
 * to a sequential scan.
 */
export class MemberLocator {
  readonly #ra: XzRandomAccess;
  readonly #probes = new Map<number, Promise<BlockProbe>>();
  readonly stats: LocateStats = { probes: 0 };

  constructor(ra: XzRandomAccess) {
    this.#ra = ra;
  }

  /** The first entry whose header starts exactly at Block `i`, if any. */
  probe(i: number): Promise<BlockProbe> {
    let p = this.#probes.get(i);
    if (!p) {
      p = this.#probe(i);
      this.#probes.set(i, p);
    }
    return p;
  }

  async #probe(i: number): Promise<BlockProbe> {
    const block = this.#ra.blocks[i]!;
    for (const n of PROBE_BYTES) {
      const want = Math.min(n, block.uncompressedSize);
      this.stats.probes++;
      const head = await this.#ra.readBlockPrefix(i, want);
      let entry: TarEntry | undefined;
      try {
        const parser = new TarParser({ entry: (e) => (entry ??= e) }, 'probe', block.uncompressedOffset);
        parser.write(head);
      } catch {
        return { entry: undefined }; // not a header: the middle of a member, or not a tar stream
      }
      if (entry) return { entry: entry.headerOffset === block.uncompressedOffset ? entry : undefined };
      if (want === block.uncompressedSize) return { entry: undefined };
    }
    return { entry: undefined };
  }

  /**
   * The Block from which a sequential read finds `name`, when the layout
   * allows a binary search: the last Block whose first member sorts at or
   * before `name`. Undefined when no Block start was a header at all.
   */
  async startBlockFor(name: string): Promise<number | undefined> {
    const blocks = this.#ra.blocks.length;
    let lo = 0;
    let hi = blocks - 1;
    let best: number | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      // Continuation Blocks of a large member have no header: use the closest keyed Block before.
      let j = mid;
      let entry = await this.#keyed(j);
      if (!entry) {
        const k = this.#partsStart(mid, lo);
        const first = k < mid ? await this.#keyed(k) : undefined;
        if (first && first.dataOffset + first.size > this.#ra.blocks[mid]!.uncompressedOffset) {
          j = k;
          entry = first;
        }
      }
      while (!entry && j > lo) entry = await this.#keyed(--j);
      if (!entry) {
        lo = mid + 1;
        continue;
      }
      if (compareMemberNames(entry.path, name) <= 0) {
        best = j;
        lo = mid + 1;
      } else {
        hi = j - 1;
      }
    }
    return best;
  }

  /**
   * Block `i`'s first header, unless it lies inside the data of the member
   * before it: a continuation Block of a large member may start with bytes
   * that parse as a header (a tar stored inside a source or debug file).
   * That member starts at Block i-1 or, for a run of equal parts, at the
   * run's first Block (see #partsStart); layout() checks every Block exactly.
   */
  async #keyed(i: number): Promise<TarEntry | undefined> {
    const { entry } = await this.probe(i);
    if (!entry || i === 0) return entry;
    const start = this.#ra.blocks[i]!.uncompressedOffset;
    const covers = (e: TarEntry | undefined) => e !== undefined && e.dataOffset + paddedSize(e.size) > start;
    if (covers((await this.probe(i - 1)).entry)) return undefined;
    const k = this.#partsStart(i, 0);
    if (k < i - 1 && covers((await this.probe(k)).entry)) return undefined;
    return entry;
  }

  /**
   * Where the large member that Block `mid` continues probably starts, to
   * probe that Block at once instead of each part before `mid`: pack cuts a
   * large member into equal parts (only the last one differs), so it is the
   * first of the run of equally sized Blocks just before `mid`. The caller
   * checks the guess against the member's extent.
   */
  #partsStart(mid: number, lo: number): number {
    const blocks = this.#ra.blocks;
    if (mid - 1 < lo) return mid;
    const partSize = blocks[mid - 1]!.uncompressedSize;
    let k = mid - 1;
    while (k - 1 >= lo && blocks[k - 1]!.uncompressedSize === partSize) k--;
    return k;
  }

  /**
   * How the whole file is cut, from one small probe per Block (cached):
   * `aligned` when every Block starts at a member header or continues the
   * large member before it (what pack and repack write), `sorted` when those
   * headers are also in packdebug's member order (what pack writes; repack
   * keeps the original order). Only a sorted layout can be binary-searched.
   */
  layout(): Promise<{ aligned: boolean; sorted: boolean }> {
    this.#layout ??= this.#computeLayout();
    return this.#layout;
  }

  #layout: Promise<{ aligned: boolean; sorted: boolean }> | undefined;

  async #computeLayout(): Promise<{ aligned: boolean; sorted: boolean }> {
    const blocks = this.#ra.blocks;
    if (blocks.length < 2 || !this.#ra.layout.footerLast) return { aligned: false, sorted: false };
    let previous: TarEntry | undefined;
    let sorted = true;
    for (let i = 0; i < blocks.length; i++) {
      const probed = (await this.probe(i)).entry;
      const start = blocks[i]!.uncompressedOffset;
      // A header inside the previous member's data is data (a tar stored in a file), not a member.
      const entry = previous && previous.dataOffset + paddedSize(previous.size) > start ? undefined : probed;
      if (entry) {
        if (previous && compareMemberNames(previous.path, entry.path) >= 0) sorted = false;
        previous = entry;
      } else {
        const end = previous ? previous.dataOffset + paddedSize(previous.size) : 0;
        // A continuation Block, or what follows the last member (the end-of-archive zeros).
        if (!previous || (end <= start && !(await this.#isTrailer(i)))) return { aligned: false, sorted: false };
      }
    }
    return { aligned: true, sorted };
  }

  /** Aligned and sorted: a "not found" from the binary search is final. */
  async isSeekableLayout(): Promise<boolean> {
    const l = await this.layout();
    return l.aligned && l.sorted;
  }

  async #isTrailer(i: number): Promise<boolean> {
    if (i !== this.#ra.blocks.length - 1) return false;
    const head = await this.#ra.readBlockPrefix(i, Math.min(1024, this.#ra.blocks[i]!.uncompressedSize));
    return head.every((b) => b === 0);
  }
}
