/**
 * Reads members from a tree or a tarball behind a URL (http, https, file):
 * a tree through its build-id index (one shard GET, one Range GET of the
 * Blocks), a single tarball through its own xz Index (its tail first). What
 * is fetched is verified before anything is written: the Block Headers
 * against the index, every Block's Check (each Block is decoded to its end),
 * the member's tar header, sizes against Content-Range, and for a build-id
 * the ELF note.
 */
import { PackdebugError } from '../errors.js';
import type { FileHandle } from 'node:fs/promises';
import { fdSource } from '../elf/index.js';
import { firstAnswer, type HttpOptions } from '../http/client.js';
import { type Location, openLocation, type RangeSource } from '../http/location.js';
import { TarParser, type TarEntry } from '../tar/parse.js';
import { lookupBuildId } from '../tarball/extract.js';
import { type BuildIdKind, verifyBuildIdFile } from '../tarball/elf-members.js';
import { newestFirst, normalizeMemberName, sameMemberName } from '../tarball/order.js';
import { listReader, type ListResult } from '../tarball/list.js';
import { TarballReader } from '../tarball/reader.js';
import type { XzBlockInfo, XzFileLayout } from '../xz/file-layout.js';
import { padTo4 } from '../xz/index.js';
import { XzRandomAccess } from '../xz/random-access.js';
import {
  type BlockRange,
  compressedSpan,
  decodeShard,
  decodeTarballObject,
  INDEX_DIR,
  IndexFormatError,
  isBuildId,
  KIND_DEBUGINFO,
  KIND_EXECUTABLE,
  MAX_OBJECT_BYTES,
  type Shard,
  shardPath,
  tarballObjectPath,
  type ShardEntry,
  type ShardTarball,
  type MemberRecord,
  type TarballObject,
  uncompressedSpan,
  mergeBlockRanges,
} from './format.js';

export interface RemoteRequest {
  /** URLs of trees (read through their index) or of single tarballs (`*.tar.xz`). */
  sources: string[];
  buildId?: string;
  kind?: BuildIdKind;
  /** A member name; with a tree URL only together with buildId (a source file of that build's tarball). */
  path?: string;
  http: HttpOptions;
}

/**
 * A file each source writes the member into (a temporary file: beside the
 * output, or anywhere for stdout). Nothing reaches the output until the
 * bytes are verified: the caller commits the winner's file and drops the rest.
 */
export interface MemberFile {
  readonly fh: FileHandle;
}

export interface RemoteResult<F extends MemberFile> {
  source: string;
  tarball: string;
  member: string;
  size: number;
  /** The file that holds the verified member. */
  file: F;
  /** HTTP requests (or file opens) and bytes fetched for this answer, over all sources asked. */
  requests: number;
  bytesFetched: number;
  via: 'index' | 'tarball';
}

/** A member that arrived and was verified, in its file. */
export interface Answer {
  source: string;
  tarball: string;
  member: string;
  size: number;
  via: 'index' | 'tarball';
  /** xz bytes decoded to read it. */
  bytesDecoded?: number;
}

/** Members larger than this are refused from a remote source (a hostile index could claim anything). */
const MAX_MEMBER_BYTES = 2 ** 42;

/**
 * Fetches the member from the first source that has it (all asked at once),
 * each into its own file from `open`, and verifies it there. Returns the
 * winner's file; the caller commits or copies it, and discards the others.
 */
export async function fetchRemote<F extends MemberFile>(
  req: RemoteRequest,
  open: () => Promise<F>,
): Promise<RemoteResult<F>> {
  if (req.sources.length === 0) throw new PackdebugError('E_USAGE', 'no source URL');
  const kind = req.kind ?? 'debuginfo';
  const id = req.buildId?.toLowerCase();
  if (id !== undefined && !isBuildId(id))
    throw new PackdebugError('E_USAGE', `invalid build-id '${req.buildId}': expected an even number of hex digits`);
  const locations = req.sources.map((s) => ({ source: s, location: openLocation(s, req.http) }));
  const { answer, file } = await firstAnswer(
    locations.map(({ source, location }) => async (signal: AbortSignal) => {
      const file = await open();
      return { answer: await lookupIn({ source, location, id, kind, path: req.path, signal, out: file.fh }), file };
    }),
  );
  return {
    ...answer,
    file,
    requests: locations.reduce((n, l) => n + l.location.stats.requests, 0),
    bytesFetched: locations.reduce((n, l) => n + l.location.stats.bytes, 0),
  };
}

function what(id: string | undefined, kind: BuildIdKind, path: string | undefined): string {
  if (id !== undefined && path !== undefined) return `source ${path} of build-id ${id}`;
  if (id !== undefined) return `build-id ${id}${kind === 'executable' ? ' (executable)' : ''}`;
  return `member ${path}`;
}

function notFound(source: string, id: string | undefined, kind: BuildIdKind, path: string | undefined) {
  return new PackdebugError('E_NOT_FOUND', `${what(id, kind, path)}: not found in ${source}`, { file: source });
}

/** The ELF note of the `size` bytes written to `out` must name the build-id asked for, as debuginfod decides. */
async function checkElf(out: FileHandle, size: number, id: string, kind: BuildIdKind, where: string): Promise<void> {
  await out.datasync();
  verifyBuildIdFile(fdSource(out.fd, size), id, kind, `${where}: the member fetched`, where);
}

// --- a tree, through its index ------------------------------------------------

async function getObject(location: Location, rel: string, signal: AbortSignal): Promise<Buffer> {
  return location.get(`${INDEX_DIR}/${rel}`, MAX_OBJECT_BYTES, signal);
}

function refuse(location: Location, rel: string, err: unknown): PackdebugError {
  const url = location.urlOf(`${INDEX_DIR}/${rel}`);
  if (err instanceof IndexFormatError)
    return new PackdebugError('E_FORMAT', `${url}: a damaged or hostile index object: ${err.message}`, { file: url });
  return err as PackdebugError;
}

/** The shard that holds `id`: one GET, or two when its prefix was split. */
async function shardFor(location: Location, id: string, signal: AbortSignal): Promise<Shard> {
  let prefix = id.slice(0, 2);
  for (;;) {
    const rel = shardPath(prefix);
    let bytes: Buffer;
    try {
      bytes = await getObject(location, rel, signal);
    } catch (err) {
      if (err instanceof PackdebugError && err.code === 'E_NOT_FOUND' && prefix.length === 2) {
        throw new PackdebugError(
          'E_NOT_FOUND',
          `${location.url}: no build-id index (${INDEX_DIR}/${rel} is missing; run 'packdebug index' on the tree)`,
          { file: location.url },
        );
      }
      throw err;
    }
    let shard: Shard;
    try {
      shard = decodeShard(bytes, prefix);
    } catch (err) {
      throw refuse(location, rel, err);
    }
    if (!shard.split) return shard;
    if (prefix.length + 2 > id.length || prefix.length >= 16) return { ...shard, entries: [] };
    prefix = id.slice(0, prefix.length + 2);
  }
}

/**
 * One source asked for one member, written to `out` and verified: a tree
 * through its index, or a tarball (a URL ending in .tar.xz) through its own.
 */
export function lookupIn(lookup: Lookup): Promise<Answer> {
  return /\.tar\.xz$/i.test(new URL(lookup.source).pathname) ? fromTarball(lookup) : fromTree(lookup);
}

/** One source asked for one member. */
export interface Lookup {
  source: string;
  location: Location;
  id: string | undefined;
  kind: BuildIdKind;
  path: string | undefined;
  signal: AbortSignal;
  /** Where the member's bytes go (from offset 0; the file may hold a failed candidate's bytes beyond). */
  out: FileHandle;
}

async function fromTree({ source, location, id, kind, path, signal, out }: Lookup): Promise<Answer> {
  if (id === undefined)
    throw new PackdebugError(
      'E_USAGE',
      `${source}: a tree URL is read through its build-id index: give --build-id ID (with --path, a source file ` +
        "of that build's tarball), or the URL of one tarball",
    );
  const want = kind === 'debuginfo' ? KIND_DEBUGINFO : KIND_EXECUTABLE;
  const candidates = (await indexedBuild(location, id, signal)).filter(
    ({ e }) => path !== undefined || (e.kinds & want) !== 0,
  );
  if (candidates.length === 0) throw notFound(source, id, kind, path);
  let stale: PackdebugError | undefined;
  const seen = new Set<string>();
  for (const { e, t } of candidates) {
    if (path !== undefined && seen.has(t.path)) continue;
    seen.add(t.path);
    try {
      if (path !== undefined) {
        const member = await sourceMember(location, t, path, signal);
        if (!member) continue;
        const { size, bytesDecoded } = await readIndexed(location, t, member, signal, out);
        return { source, tarball: t.path, member: member.name, size, via: 'index', bytesDecoded };
      }
      const { size, bytesDecoded } = await readIndexed(location, t, { ...e, name: e.member }, signal, out);
      await checkElf(out, size, id, kind, location.urlOf(t.path));
      return { source, tarball: t.path, member: e.member, size, via: 'index', bytesDecoded };
    } catch (err) {
      if (!(err instanceof PackdebugError) || !['E_CHANGED', 'E_FORMAT', 'E_VERIFY', 'E_NOT_FOUND'].includes(err.code))
        throw err;
      // The tarball is not the version indexed: another candidate may still be good.
      stale = new PackdebugError(
        'E_CHANGED',
        `${location.urlOf(t.path)}: does not match the build-id index (${err.message.replace(/\s*\n\s*/g, ' ')}); ` +
          "the index is stale: run 'packdebug index' on the tree (or the mirror is still syncing)",
        { file: location.urlOf(t.path), cause: err },
      );
    }
  }
  throw stale ?? notFound(source, id, kind, path);
}

/** One entry of a build-id in a tree's index, with its tarball. */
export interface IndexedEntry {
  e: ShardEntry;
  t: ShardTarball;
}

/** The index entries of build-id `id` (one shard GET, two when split), newest tarball first. */
export async function indexedBuild(location: Location, id: string, signal: AbortSignal): Promise<IndexedEntry[]> {
  const shard = await shardFor(location, id, signal);
  return shard.entries
    .filter((e) => e.buildId === id)
    .map((e) => ({ e, t: shard.tarballs[e.tarball]! }))
    .sort((a, b) => newestFirst(a.t, b.t));
}

/** The index object of tarball `t`: every member with its Blocks (one GET). */
export async function tarballObjectOf(
  location: Location,
  t: ShardTarball,
  signal: AbortSignal,
): Promise<TarballObject> {
  const rel = tarballObjectPath(t.key);
  let obj;
  try {
    obj = decodeTarballObject(await getObject(location, rel, signal));
  } catch (err) {
    throw refuse(location, rel, err);
  }
  if (obj.path !== t.path || obj.stamp !== t.stamp)
    throw new PackdebugError('E_FORMAT', `${location.urlOf(`${INDEX_DIR}/${rel}`)}: describes another tarball`);
  return obj;
}

/** The member `path` of the tarball `t`, from its index object (one more GET). */
async function sourceMember(
  location: Location,
  t: ShardTarball,
  path: string,
  signal: AbortSignal,
): Promise<{ name: string; size: number; headerOffset: number; dataOffset: number; blocks?: BlockRange } | undefined> {
  const obj = await tarballObjectOf(location, t, signal);
  const want = normalizeMemberName(path);
  const m = obj.members.find((x) => (x.type === '0' || x.type === '7') && sameMemberName(x.name, want));
  return m && { name: m.name, size: m.size, headerOffset: m.headerOffset, dataOffset: m.dataOffset, blocks: m.blocks };
}

/** A layout that lists only the Blocks of `range` (what the index recorded), for XzRandomAccess. */
function partialLayout(range: BlockRange, fileSize: number): XzFileLayout {
  const blocks: XzBlockInfo[] = [];
  let fileOffset = range.fileOffset;
  let uncompressedOffset = range.uncompressedOffset;
  for (let i = 0; i < range.sizes.length; i += 2) {
    const unpaddedSize = range.sizes[i]!;
    const uncompressedSize = range.sizes[i + 1]!;
    const totalSize = padTo4(unpaddedSize);
    blocks.push({
      stream: 0,
      fileOffset,
      unpaddedSize,
      totalSize,
      uncompressedOffset,
      uncompressedSize,
      checkId: range.check,
    });
    fileOffset += totalSize;
    uncompressedOffset += uncompressedSize;
  }
  const stream = { fileOffset: 0, checkId: range.check, indexOffset: 0, indexSize: 0, padding: 0, blocks };
  return { fileSize, streams: [stream], blocks, uncompressedSize: uncompressedOffset, footerLast: true };
}

async function readIndexed(
  location: Location,
  t: ShardTarball,
  m: { name: string; size: number; headerOffset: number; dataOffset: number; blocks?: BlockRange },
  signal: AbortSignal,
  out: FileHandle,
): Promise<{ size: number; bytesDecoded: number }> {
  if (m.size > MAX_MEMBER_BYTES) throw new PackdebugError('E_FORMAT', `${m.name}: ${m.size} bytes, too large`);
  const url = location.urlOf(t.path);
  const source = await location.open(t.path, t.size, signal);
  if (!m.blocks) {
    // Blocks in several Streams: read through the tarball's own Index.
    const ra = await XzRandomAccess.fromSource(source, url, { name: url });
    return readVerified(ra, url, m, out);
  }
  const span = compressedSpan(m.blocks);
  try {
    await source.prefetch(span.start, span.end);
  } catch (err) {
    await source.close();
    throw err;
  }
  const u = uncompressedSpan(m.blocks);
  if (u.start > m.headerOffset || u.end < m.dataOffset + m.size)
    throw new PackdebugError('E_FORMAT', `${url}: the index's Blocks do not cover ${m.name}`);
  const ra = await XzRandomAccess.fromSource(source, url, { name: url }, partialLayout(m.blocks, t.size));
  return readVerified(ra, url, m, out);
}

/** The tar header read at the index's offset must be the member's (name, size, where its data starts). */
function checkHeader(
  header: Buffer,
  url: string,
  m: { name: string; size: number; headerOffset: number; dataOffset: number },
): void {
  let entry: TarEntry | undefined;
  try {
    new TarParser({ entry: (e) => void (entry ??= e) }, url, m.headerOffset).write(header);
  } catch {
    entry = undefined;
  }
  if (!entry || !sameMemberName(entry.path, m.name) || entry.size !== m.size || entry.dataOffset !== m.dataOffset)
    throw new PackdebugError('E_CHANGED', `${url}: no header of ${m.name} (${m.size} bytes) at ${m.headerOffset}`, {
      file: url,
    });
}

/**
 * The member's data, each Block that holds it decoded to its end (so its
 * Check is verified), after its tar header was found where expected.
 */
async function readVerified(
  ra: XzRandomAccess,
  url: string,
  m: { name: string; size: number; headerOffset: number; dataOffset: number },
  out: FileHandle,
): Promise<{ size: number; bytesDecoded: number }> {
  try {
    checkHeader(await ra.read(m.headerOffset, m.dataOffset - m.headerOffset), url, m);
    await copyBlocks(ra, m.dataOffset, m.size, out);
    return { size: m.size, bytesDecoded: ra.bytesDecoded };
  } finally {
    await ra.close();
  }
}

/** Members larger than this are not read whole into memory by readMembers. */
const MAX_READ_WHOLE_BYTES = 256 << 20;

/**
 * Reads several members of tarball `t` (records from its index object), in
 * tar order, each Block decoded once however many members it holds: the
 * members' Block ranges are merged into runs, and each run is read through
 * one XzRandomAccess whose cache keeps the Block between members. Every tar
 * header is checked where the index put it; every Block decoded whole has
 * its Check verified. Members without Block ranges (tarballs of several
 * Streams) go through the tarball's own Index.
 */
export async function readMembers(
  location: Location,
  t: ShardTarball,
  members: readonly MemberRecord[],
  each: (m: MemberRecord, data: Buffer) => Promise<void>,
  signal: AbortSignal,
): Promise<{ bytesDecoded: number }> {
  const url = location.urlOf(t.path);
  const sorted = [...members].sort((a, b) => a.headerOffset - b.headerOffset);
  for (const m of sorted)
    if (m.size > MAX_READ_WHOLE_BYTES) throw new PackdebugError('E_FORMAT', `${url}: ${m.name}: too large to read`);
  const runs = sorted.every((m) => m.blocks) ? mergeBlockRanges(sorted.map((m) => m.blocks!)) : undefined;
  let bytesDecoded = 0;
  const readWith = async (ra: XzRandomAccess, list: MemberRecord[]): Promise<void> => {
    try {
      for (const m of list) {
        signal.throwIfAborted();
        const data = await ra.read(m.headerOffset, m.dataOffset - m.headerOffset + m.size);
        checkHeader(data.subarray(0, m.dataOffset - m.headerOffset), url, m);
        await each(m, data.subarray(m.dataOffset - m.headerOffset));
      }
    } finally {
      bytesDecoded += ra.bytesDecoded;
      await ra.close();
    }
  };
  if (runs === undefined) {
    const ra = await XzRandomAccess.fromSource(await location.open(t.path, t.size, signal), url, { name: url });
    await readWith(ra, sorted);
    return { bytesDecoded };
  }
  for (const run of runs) {
    const u = uncompressedSpan(run);
    const list = sorted.filter((m) => m.headerOffset >= u.start && m.dataOffset + m.size <= u.end);
    if (list.length === 0) continue;
    const source = await location.open(t.path, t.size, signal);
    const span = compressedSpan(run);
    try {
      await source.prefetch(span.start, span.end);
    } catch (err) {
      await source.close();
      throw err;
    }
    const ra = await XzRandomAccess.fromSource(source, url, { name: url }, partialLayout(run, t.size));
    await readWith(ra, list);
  }
  return { bytesDecoded };
}

/**
 * Bytes [start, start + size) of the tar stream into `out` from its offset
 * 0, decoding every Block that holds them to its end (so each Check is
 * verified). The file is truncated to `size`: a failed candidate's bytes
 * never stay behind.
 */
async function copyBlocks(ra: XzRandomAccess, start: number, size: number, out: FileHandle): Promise<void> {
  await out.truncate(0);
  let got = 0;
  if (size > 0) {
    for (const i of ra.blocksCovering(start, size)) {
      const b = ra.blocks[i]!;
      let pos = b.uncompressedOffset;
      await ra.streamBlock(i, async (chunk) => {
        const from = Math.max(start, pos);
        const to = Math.min(start + size, pos + chunk.length);
        pos += chunk.length;
        if (to > from) {
          const part = chunk.subarray(from - (pos - chunk.length), to - (pos - chunk.length));
          let done = 0;
          while (done < part.length)
            done += (await out.write(part, done, part.length - done, from - start + done)).bytesWritten;
          got += part.length;
        }
        return true;
      });
    }
  }
  if (got !== size) throw new PackdebugError('E_FORMAT', `${ra.name}: ${got} of ${size} bytes decoded`);
}

// --- one tarball, through its own xz Index ------------------------------------

async function fromTarball({ source, location, id, kind, path, signal, out }: Lookup): Promise<Answer> {
  const src: RangeSource = await location.open('', undefined, signal);
  const ra = await XzRandomAccess.fromSource(src, source, { name: source });
  const reader = TarballReader.over(ra);
  try {
    let entry: TarEntry | undefined;
    if (id !== undefined && path === undefined) {
      const found = await lookupBuildId(reader, id, kind, undefined, { trustLinks: false });
      entry = found && found !== 'no-link' ? found.entry : undefined;
    } else {
      entry = (await reader.find(path!))?.entry;
    }
    if (!entry || (entry.type !== '0' && entry.type !== '7')) throw notFound(source, id, kind, path);
    await copyBlocks(ra, entry.dataOffset, entry.size, out);
    if (id !== undefined && path === undefined) await checkElf(out, entry.size, id, kind, source);
    return { source, tarball: source, member: entry.path, size: entry.size, via: 'tarball' };
  } finally {
    await reader.close();
  }
}

/** `packdebug list` of a tarball behind a URL: its xz Index by Range requests, then its headers. */
export async function listRemote(url: string, http: HttpOptions): Promise<ListResult> {
  if (!/\.tar\.xz$/i.test(new URL(url).pathname))
    throw new PackdebugError('E_USAGE', `${url}: list takes the URL of one tarball (*.tar.xz)`);
  const location = openLocation(url, http);
  const ra = await XzRandomAccess.fromSource(await location.open(''), url, { name: url });
  return listReader(TarballReader.over(ra), url);
}
