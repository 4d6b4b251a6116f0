/**
 * One tarball as the index records it: every member with its offsets, the
 * xz Blocks that hold it, and for ELF files the build-id and what debuginfod
 * would serve it as. Read once, sequentially (through xz(1) when there is one).
 */
import { createHash } from 'node:crypto';
import { buildMemberIndex } from '../tarball/member-index.js';
import { TarballReader } from '../tarball/reader.js';
import type { XzFileLayout } from '../xz/file-layout.js';
import type { XzRandomAccess } from '../xz/random-access.js';
import {
  type BlockRange,
  FORMAT_VERSION,
  KIND_DEBUGINFO,
  KIND_EXECUTABLE,
  type MemberRecord,
  type TarballObject,
  type TarballRecord,
} from './format.js';

/**
 * What identifies a version of a tarball from its structure alone: its size
 * and every Block's sizes and check type, as the xz Index lists them. A
 * reader of a mirror computes the same from the Index it fetched.
 */
export function layoutStamp(layout: XzFileLayout): string {
  const h = createHash('sha256');
  h.update(`${layout.fileSize}:`);
  for (const s of layout.streams) {
    h.update(`s${s.checkId}:${s.padding}:`);
    for (const b of s.blocks) h.update(`${b.unpaddedSize},${b.uncompressedSize};`);
  }
  return h.digest('hex').slice(0, 32);
}

/** The key of a tarball version's own object: a hash of its path and stamp. */
export function tarballKey(path: string, stamp: string): string {
  return createHash('sha256').update(`${path}\n${stamp}`).digest('hex').slice(0, 32);
}

/** The Blocks holding uncompressed bytes [start, end), when they are all in one Stream. */
export function blockRange(ra: XzRandomAccess, start: number, end: number): BlockRange | undefined {
  const indexes = ra.blocksCovering(start, Math.max(1, end - start));
  if (indexes.length === 0) return undefined;
  const blocks = indexes.map((i) => ra.blocks[i]!);
  const first = blocks[0]!;
  if (blocks.some((b) => b.stream !== first.stream)) return undefined;
  // Indexes skip empty Blocks; a range with one inside is not contiguous as listed.
  for (let i = 1; i < blocks.length; i++)
    if (blocks[i]!.fileOffset !== blocks[i - 1]!.fileOffset + blocks[i - 1]!.totalSize) return undefined;
  return {
    fileOffset: first.fileOffset,
    uncompressedOffset: first.uncompressedOffset,
    check: first.checkId,
    sizes: blocks.flatMap((b) => [b.unpaddedSize, b.uncompressedSize]),
  };
}

/** Reads `file` (the tarball at `rel` in its tree) into its index object. */
export async function describeTarball(
  file: string,
  record: Pick<TarballRecord, 'path' | 'buildNumber' | 'mtimeMs'>,
  env: NodeJS.ProcessEnv,
): Promise<TarballObject> {
  const reader = await TarballReader.open(file, env, { noFollow: true, name: file });
  try {
    const indexed = await buildMemberIndex(reader);
    const ra = reader.ra;
    const members = indexed.map(({ entry, buildId, debuginfo, executable }): MemberRecord => {
      const m: MemberRecord = {
        name: entry.path,
        type: entry.type,
        size: entry.size,
        headerOffset: entry.headerOffset,
        dataOffset: entry.dataOffset,
      };
      if (entry.linkpath) m.linkpath = entry.linkpath;
      const hasData = entry.type === '0' || entry.type === '7';
      const range = blockRange(ra, entry.headerOffset, entry.dataOffset + (hasData ? entry.size : 0));
      if (range) m.blocks = range;
      if (buildId && hasData) {
        const kinds = (debuginfo ? KIND_DEBUGINFO : 0) | (executable ? KIND_EXECUTABLE : 0);
        m.buildId = buildId;
        m.kinds = kinds;
      }
      return m;
    });
    return {
      format: 'packdebug-index-tarball',
      version: FORMAT_VERSION,
      ...record,
      size: ra.layout.fileSize,
      stamp: layoutStamp(ra.layout),
      members,
    };
  } finally {
    await reader.close();
  }
}
