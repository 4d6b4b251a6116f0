import type { TarEntry, TarVisitor } from '../tar/parse.js';
import { JsonCache } from '../util/json-cache.js';
import type { XzRandomAccess } from '../xz/random-access.js';
import type { ElfAtOptions } from './elf-at.js';
import { inspectingVisitor, SecondLooks, type ElfMember } from './elf-members.js';

/** One member as the index remembers it: enough to read it back without a scan. */
export interface IndexedMember {
  entry: TarEntry;
  buildId?: string;
  /** Set for ELF files (debuginfod's classes; both false without a GNU build-id). */
  debuginfo?: boolean;
  executable?: boolean;
  goBuildIdOnly?: boolean;
  /** An ELF file whose GNU build-id could not be determined (reads it would take were too large). */
  buildIdUnknown?: boolean;
}

/**
 * What building an index needs of a TarballReader. Named here rather than
 * imported, because reader.ts loads this module (no import cycle).
 */
export interface ScannableTarball {
  readonly ra: XzRandomAccess;
  scan(visitor: TarVisitor): Promise<void>;
}

/**
 * Reads every header (and inspects every ELF file) in one sequential pass;
 * ELF files the pass could not decide (a note far from both ends of a large
 * file) are then read where their notes are, by random access.
 */
export async function buildMemberIndex(reader: ScannableTarball, elfAt?: ElfAtOptions): Promise<IndexedMember[]> {
  const members: IndexedMember[] = [];
  const byEntry = new Map<TarEntry, IndexedMember>();
  const onElf = ({ entry, elf }: ElfMember) => {
    const m = byEntry.get(entry)!;
    Object.assign(m, { debuginfo: elf.debuginfo, executable: elf.executable });
    if (elf.gnuBuildId) m.buildId = elf.gnuBuildId;
    else if (elf.incomplete !== undefined) m.buildIdUnknown = true;
    else if (elf.goBuildId) m.goBuildIdOnly = true;
  };
  const later = new SecondLooks();
  await reader.scan(
    inspectingVisitor(
      onElf,
      {
        entry(e) {
          const m: IndexedMember = { entry: e };
          members.push(m);
          byEntry.set(e, m);
        },
      },
      later,
    ),
  );
  await later.complete(reader.ra, onElf, undefined, elfAt);
  return members;
}

/** 2: ELF members with a note the scan had passed were cached as having no build-id. */
const INDEX_VERSION = 2;

/**
 * The member index of a tarball from the cache (see util/json-cache.ts),
 * else built by `build` and cached: trusted only while the tarball is the
 * same version of the same file.
 */
export async function cachedMemberIndex(
  tarball: string,
  build: () => Promise<IndexedMember[]>,
  env?: NodeJS.ProcessEnv,
): Promise<IndexedMember[]> {
  const cache = JsonCache.open<{ members: IndexedMember[] }>('index', INDEX_VERSION, env);
  if (!cache) return build();
  return (await cache.through([tarball], async () => ({ members: await build() }))).value.members;
}
