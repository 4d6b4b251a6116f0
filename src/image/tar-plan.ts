/**
 * How image entries lay out as one uncompressed tar stream, and what
 * supplies the data of its members: shared by the writer (pack) and by the
 * data sources below it (binpkg's spill file).
 */
import type { ImageEntry } from './walk.js';
import { BLOCK_SIZE, encodeHeader, type HeaderFields, paddedSize, paxNeeds } from '../tar/header.js';
import { encodePaxMember } from '../tar/pax.js';
import { TarType } from '../tar/types.js';

/** GNU tar pads archives to whole 10 KiB records; we do the same. */
export const RECORD_SIZE = 20 * BLOCK_SIZE;

/** An image entry placed in the uncompressed tar stream. */
export interface PlannedMember {
  entry: ImageEntry;
  /** Header bytes: a pax member when needed, then the ustar header. */
  header: Buffer;
  /** Offset of the first header byte in the tar stream. */
  offset: number;
  /** Data bytes (regular files only). */
  dataSize: number;
  /** Offset just past the member's padded data. */
  end: number;
}

/**
 * Where the data of regular-file members comes from: the image on disk
 * (`pack`) or a spill file of a binpkg's image stream (`from-binpkg`).
 * Reads of one member come in order and without gaps, members in plan order.
 */
export interface MemberData {
  /** Fills `into` with the member's bytes from `position`. */
  read(member: PlannedMember, position: number, into: Buffer): Promise<void>;
  /** The member was read to its end; `sha256` is the digest of what was read. */
  finished(member: PlannedMember, sha256: string): Promise<void>;
  close(): Promise<void>;
}

export interface TarPlan {
  members: PlannedMember[];
  /** Offset where the end-of-archive zero blocks start. */
  trailerOffset: number;
  /** Size of the whole uncompressed tar stream. */
  size: number;
}

const TYPE_FLAG: Record<ImageEntry['kind'], string> = {
  file: TarType.file,
  hardlink: TarType.hardlink,
  symlink: TarType.symlink,
  directory: TarType.directory,
};

export function headerFields(entry: ImageEntry): HeaderFields {
  return {
    name: entry.member,
    mode: entry.mode,
    uid: 0,
    gid: 0,
    size: entry.kind === 'file' ? entry.size : 0,
    mtime: entry.mtime,
    type: TYPE_FLAG[entry.kind],
    linkname: entry.linkTarget,
    uname: 'root',
    gname: 'root',
    devmajor: 0,
    devminor: 0,
  };
}

export function encodeMemberHeader(entry: ImageEntry): Buffer {
  const fields = headerFields(entry);
  const pax = paxNeeds(fields);
  const ustar = encodeHeader(fields);
  if (Object.keys(pax).length === 0) return ustar;
  return Buffer.concat([encodePaxMember(entry.member, pax, entry.mtime), ustar]);
}

/** Lays the entries out as one tar stream: headers, data, padding, trailer. */
export function planTar(entries: readonly ImageEntry[]): TarPlan {
  const members: PlannedMember[] = [];
  let offset = 0;
  for (const entry of entries) {
    const header = encodeMemberHeader(entry);
    const dataSize = entry.kind === 'file' ? entry.size : 0;
    const end = offset + header.length + paddedSize(dataSize);
    members.push({ entry, header, offset, dataSize, end });
    offset = end;
  }
  const trailerOffset = offset;
  const size = Math.ceil((offset + 2 * BLOCK_SIZE) / RECORD_SIZE) * RECORD_SIZE;
  return { members, trailerOffset, size };
}
