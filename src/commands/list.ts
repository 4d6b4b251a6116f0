import { PackdebugError } from '../errors.js';
import type { ElfAtOptions } from '../tarball/elf-at.js';
import { buildMemberIndex } from '../tarball/member-index.js';
import { TarballReader } from '../tarball/reader.js';
import type { CommandIO } from '../util/io.js';
import { printable } from '../util/escape.js';

export interface ListArgs {
  tarball: string;
  json?: boolean;
}

const TYPE_NAMES: Record<string, string> = {
  '0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

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
  /** One Block of at most the default --block-size (what pack writes for a small package): read whole, repack leaves it alone. */
  oneSmallBlock: boolean;
  members: number;
  buildIds: number;
  entries: ListedMember[];
}

/** `elfAt`: limits of the second look at ELF files the scan could not decide (see buildMemberIndex). */
export async function listTarball(tarball: string, elfAt?: ElfAtOptions): Promise<ListResult> {
  const reader = await TarballReader.open(tarball);
  try {
    const entries = (await buildMemberIndex(reader, elfAt)).map(
      ({ entry: e, buildId, debuginfo, executable, goBuildIdOnly, buildIdUnknown }) => {
        const m: ListedMember = {
          path: e.path,
          type: TYPE_NAMES[e.type] ?? `type-${e.type}`,
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

export async function runList(args: ListArgs, io: CommandIO): Promise<number> {
  if (!args.tarball) throw new PackdebugError('E_USAGE', 'name a tarball');
  const r = await listTarball(args.tarball);
  io.stdout.write(args.json ? `${JSON.stringify(r)}\n` : formatListing(r));
  return 0;
}

/** The human listing: a table of members, then a summary line. */
export function formatListing(r: ListResult): string {
  const lines = r.entries.map((m) => {
    const link = m.linkpath ? ` -> ${printable(m.linkpath)}` : '';
    const elf = m.buildId
      ? `  [${m.debuginfod} ${m.buildId}]`
      : m.debuginfod === 'unknown'
        ? '  [build-id unknown (ELF too large to inspect)]'
        : m.goBuildIdOnly
          ? '  [Go build id only: not servable]'
          : m.debuginfod === 'none'
            ? '  [ELF without GNU build-id: not servable]'
            : '';
    return `${String(m.offset).padStart(12)} ${m.type.padEnd(8)} ${m.mode} ${String(m.size).padStart(11)}  ${printable(m.path)}${link}${elf}`;
  });
  return (
    `${'offset'.padStart(12)} ${'type'.padEnd(8)} mode ${'size'.padStart(11)}  name\n${lines.join('\n')}\n\n` +
    `${printable(r.tarball)}: ${r.members} members, ${r.buildIds} GNU build-ids; ${r.blocks} xz Blocks (largest ${r.largestBlock} bytes); ` +
    `${r.sorted ? 'seekable, packdebug layout' : r.packdebugLayout ? 'seekable, Blocks at member headers (original member order)' : r.seekable ? 'seekable (Blocks not at member boundaries)' : r.oneSmallBlock ? 'one small Block, read whole (no repack needed)' : "not seekable: 'packdebug repack' makes it so"}\n`
  );
}
