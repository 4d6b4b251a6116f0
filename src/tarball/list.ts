import type { ElfAtOptions } from './elf-at.js';
import { buildMemberIndex } from './member-index.js';
import { TarballReader } from './reader.js';
import { typeName } from '../tar/types.js';

export interface ListedMember {
  path: string;
  type: string;
  mode: string;
  size: number;
  linkpath?: string;
  /** Offset of the member's first header in the uncompressed tar stream. */
  offset: number;
  buildId?: string;
  /**
   * How debuginfod would index it: debuginfo, executable, both, none (no GNU
   * build-id), or unknown (an ELF file too large to inspect: the reads would decode too much).
   */
  debuginfod?: 'debuginfo' | 'executable' | 'debuginfo+executable' | 'none' | 'unknown';
  /** A Go build id (`.note.go.buildid`) and no GNU build-id: debuginfod cannot serve it. */
  goBuildIdOnly?: boolean;
}

export interface ListResult {
  tarball: string;
  blocks: number;
  largestBlock: number;
  seekable: boolean;
  /** Blocks start at member headers (written by pack or repack). */
  packdebugLayout: boolean;
  /** ... and members are in packdebug's order: a cold extract finds any member by binary search. */
  sorted: boolean;
  /**
   * One Block of at most the default --block-size (what pack writes for a small package): read whole, repack
   * leaves it alone.
   */
  oneSmallBlock: boolean;
  members: number;
  buildIds: number;
  entries: ListedMember[];
}

/** `elfAt`: limits of the second look at ELF files the scan could not decide (see buildMemberIndex). */
export async function listTarball(tarball: string, elfAt?: ElfAtOptions): Promise<ListResult> {
  return listReader(await TarballReader.open(tarball), tarball, elfAt);
}

/** listTarball over an open reader (a tarball on a mirror, say), which it closes. */
export async function listReader(reader: TarballReader, tarball: string, elfAt?: ElfAtOptions): Promise<ListResult> {
  try {
    const entries = (await buildMemberIndex(reader, elfAt)).map(
      ({ entry: e, buildId, debuginfo, executable, goBuildIdOnly, buildIdUnknown }) => {
        const m: ListedMember = {
          path: e.path,
          type: typeName(e.type),
          mode: (e.mode & 0o7777).toString(8).padStart(4, '0'),
          size: e.size,
          offset: e.headerOffset,
        };
        if (e.linkpath) m.linkpath = e.linkpath;
        if (buildId) {
          m.buildId = buildId;
          m.debuginfod =
            debuginfo && executable
              ? 'debuginfo+executable'
              : debuginfo
                ? 'debuginfo'
                : executable
                  ? 'executable'
                  : 'none';
        } else if (buildIdUnknown) {
          m.debuginfod = 'unknown';
        } else if (debuginfo !== undefined || goBuildIdOnly) {
          m.debuginfod = 'none';
          if (goBuildIdOnly) m.goBuildIdOnly = true;
        }
        return m;
      },
    );
    const blocks = reader.ra.blocks;
    const layout = await reader.locator.layout();
    return {
      tarball,
      blocks: blocks.length,
      largestBlock: blocks.reduce((n, b) => Math.max(n, b.uncompressedSize), 0),
      seekable: reader.seekable,
      packdebugLayout: layout.aligned,
      oneSmallBlock: reader.oneSmallBlock,
      sorted: layout.aligned && layout.sorted,
      members: entries.length,
      buildIds: new Set(entries.filter((e) => e.buildId).map((e) => e.buildId)).size,
      entries,
    };
  } finally {
    await reader.close();
  }
}
