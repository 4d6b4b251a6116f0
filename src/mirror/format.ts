/**
 * The build-id index of a tarball tree (docs/index-format.md): its objects,
 * their JSON forms, and the checks a reader applies before trusting one
 * fetched from a mirror. Pure: no IO.
 *
 * TREE/.packdebug-index/
 *   manifest.json            what the index is (version, generation, counts, split shards)
 *   buildid/XX.json          the build-ids starting with XX (two hex digits), or a split marker
 *   buildid/XX/YY.json       ... when XX was split: the build-ids starting with XXYY
 *   tarballs/KEY.json        every member of one version of one tarball (immutable; KEY = hash of path and stamp)
 *   state.json               the writer's own record of the local files (stamps), not for readers
 */
export { INDEX_DIR } from '../portage/naming.js';
import { padTo4 } from '../xz/index.js';
export const FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const STATE_FILE = 'state.json';

/** Largest object a reader fetches: a shard stays well below (it is split first); anything bigger is refused. */
export const MAX_OBJECT_BYTES = 16 << 20;
/** A shard is split into 256 when its JSON would exceed this. */
export const SHARD_SPLIT_BYTES = 48 << 10;
/** Build-id lengths: debuginfod accepts 2 to 64 hex digits (an even number, in practice 40). */
const BUILD_ID_RE = /^[0-9a-f]{2,128}$/;

/** Kinds, as a bit mask: what debuginfod would serve a member as. */
export const KIND_DEBUGINFO = 1;
export const KIND_EXECUTABLE = 2;

/**
 * Where a member lies: the xz Blocks [first, first + sizes.length/2) that
 * hold its header and data. `fileOffset` is where the first Block starts in
 * the tarball, `uncompressedOffset` where its data starts in the tar stream;
 * `sizes` alternates each Block's Unpadded Size and Uncompressed Size (from
 * the tarball's xz Index), so a reader can check and decode them without the
 * Index. `check` is the Stream's check type.
 */
export interface BlockRange {
  fileOffset: number;
  uncompressedOffset: number;
  check: number;
  sizes: number[];
}

/** One version of one tarball: what identifies it and what a reader checks against. */
export interface TarballRecord {
  /** Relative to the tree: CATEGORY/PN/FILE. */
  path: string;
  size: number;
  /** SHA-256 (hex, 32 digits) of the last Stream's Index and Footer: changes when the tarball does. */
  stamp: string;
  /** Portage's BUILD_ID from the name, for choosing the newest of several. */
  buildNumber: number | null;
  mtimeMs: number;
}

/** A member of a tarball, as the per-tarball object lists it. */
export interface MemberRecord {
  name: string;
  /** The tar type flag ('0' file, '1' hard link, '2' symlink, '5' directory, ...). */
  type: string;
  size: number;
  linkpath?: string;
  headerOffset: number;
  dataOffset: number;
  /** Absent when the Blocks that hold it are not in one Stream (read through the tarball's own Index). */
  blocks?: BlockRange;
  buildId?: string;
  kinds?: number;
}

export interface TarballObject extends TarballRecord {
  format: 'packdebug-index-tarball';
  version: number;
  members: MemberRecord[];
}

/** A build-id entry of a shard: `tarball` indexes the shard's tarball table. */
export interface ShardEntry {
  buildId: string;
  kinds: number;
  tarball: number;
  member: string;
  size: number;
  headerOffset: number;
  dataOffset: number;
  blocks?: BlockRange;
}

export interface ShardTarball extends TarballRecord {
  /** The per-tarball object (sources and every other member): tarballs/KEY.json. */
  key: string;
}

export interface Shard {
  format: 'packdebug-index-shard';
  version: number;
  generation: string;
  prefix: string;
  /** The shard was split: its build-ids are in buildid/PREFIX/YY.json. */
  split?: boolean;
  tarballs: ShardTarball[];
  entries: ShardEntry[];
}

export interface Manifest {
  format: 'packdebug-index';
  version: number;
  generation: string;
  created: string;
  tarballs: number;
  buildIds: number;
  entries: number;
  /** Shards split into 256 (their prefixes), so a writer knows where each build-id goes. */
  split: string[];
  /** Tarballs that could not be read, with the reason. */
  damaged: { path: string; error: string }[];
}

/** The shard object's path for a prefix: `buildid/ab.json`, `buildid/ab/cd.json`. */
export function shardPath(prefix: string): string {
  const parts: string[] = [];
  for (let i = 0; i < prefix.length; i += 2) parts.push(prefix.slice(i, i + 2));
  return `buildid/${parts.join('/')}.json`;
}

export function tarballObjectPath(key: string): string {
  return `tarballs/${key}.json`;
}

export function isBuildId(id: string): boolean {
  return BUILD_ID_RE.test(id) && id.length % 2 === 0;
}

// --- compact JSON forms -----------------------------------------------------

type BlocksJson = [number, number, number, number[]];
type EntryJson = [string, number, number, string, number, number, number, BlocksJson?];
type MemberJson = [string, string, number, number, number, BlocksJson | null, string?, number?, string?];
type TarballJson = [string, number, string, number | null, number];

const blocksJson = (b: BlockRange | undefined): BlocksJson | undefined =>
  b && [b.fileOffset, b.uncompressedOffset, b.check, b.sizes];

export function encodeShard(s: Shard): string {
  return JSON.stringify({
    format: s.format,
    version: s.version,
    generation: s.generation,
    prefix: s.prefix,
    ...(s.split ? { split: true } : {}),
    tarballs: s.tarballs.map((t) => [t.path, t.size, t.stamp, t.buildNumber, t.mtimeMs, t.key]),
    entries: s.entries.map((e): EntryJson => {
      const row: EntryJson = [e.buildId, e.kinds, e.tarball, e.member, e.size, e.headerOffset, e.dataOffset];
      if (e.blocks) row.push(blocksJson(e.blocks));
      return row;
    }),
  });
}

export function encodeTarballObject(t: TarballObject): string {
  const rec: TarballJson = [t.path, t.size, t.stamp, t.buildNumber, t.mtimeMs];
  return JSON.stringify({
    format: t.format,
    version: t.version,
    tarball: rec,
    members: t.members.map((m): MemberJson => {
      const row: MemberJson = [m.name, m.type, m.size, m.headerOffset, m.dataOffset, blocksJson(m.blocks) ?? null];
      if (m.buildId !== undefined || m.linkpath !== undefined) row.push(m.buildId ?? '', m.kinds ?? 0);
      if (m.linkpath !== undefined) row.push(m.linkpath);
      return row;
    }),
  });
}

// --- validation of what a reader fetched ------------------------------------

/** What is wrong with a fetched object; the reader names the object and refuses it. */
export class IndexFormatError extends Error {}

function fail(what: string): never {
  throw new IndexFormatError(what);
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function count(n: unknown, what: string): number {
  if (!isCount(n)) fail(`${what} is not a non-negative integer`);
  return n;
}

/** CATEGORY/PN/FILE.tar.xz, each part a plain name: never `..`, absolute, or anything a path could escape with. */
export function isSafeTarballPath(p: unknown): p is string {
  if (typeof p !== 'string' || p.length > 1024 || !p.endsWith('.tar.xz')) return false;
  const parts = p.split('/');
  return (
    parts.length === 3 &&
    parts.every((c) => c.length > 0 && c.length <= 255 && c !== '.' && c !== '..' && !/[\0\\\n]/.test(c))
  );
}

function decodeBlocks(v: unknown, what: string): BlockRange | undefined {
  if (v === null || v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== 4 || !Array.isArray(v[3])) fail(`${what}: bad Block range`);
  const [fileOffset, uncompressedOffset, check, sizes] = v as [unknown, unknown, unknown, unknown[]];
  if (sizes.length === 0 || sizes.length % 2 !== 0 || sizes.length > 2 * 65536) fail(`${what}: bad Block list`);
  const range = {
    fileOffset: count(fileOffset, `${what}: Block offset`),
    uncompressedOffset: count(uncompressedOffset, `${what}: Block data offset`),
    check: count(check, `${what}: check type`),
    sizes: sizes.map((n) => count(n, `${what}: Block size`)),
  };
  if (![0, 1, 4, 10].includes(range.check)) fail(`${what}: unknown check type ${range.check}`);
  let compressed = 0;
  let uncompressed = 0;
  for (let i = 0; i < range.sizes.length; i += 2) {
    if (range.sizes[i]! < 5) fail(`${what}: a Block of ${range.sizes[i]} bytes`);
    compressed += range.sizes[i]! + 3;
    uncompressed += range.sizes[i + 1]!;
  }
  if (
    !Number.isSafeInteger(range.fileOffset + compressed) ||
    !Number.isSafeInteger(range.uncompressedOffset + uncompressed)
  )
    fail(`${what}: Block sizes overflow`);
  return range;
}

/** Bytes [start, end) of the tarball that the range covers. */
/**
 * Merges Block ranges (of one Stream) that overlap or touch into runs of
 * consecutive Blocks, ordered by file offset: what one reader can decode
 * front to back.
 */
export function mergeBlockRanges(ranges: readonly BlockRange[]): BlockRange[] {
  const sorted = [...ranges].sort((a, b) => a.fileOffset - b.fileOffset);
  const out: BlockRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last === undefined || compressedSpan(last).end < r.fileOffset || last.check !== r.check) {
      out.push({ ...r, sizes: [...r.sizes] });
      continue;
    }
    // Append r's Blocks that start at or after the run's end.
    let at = r.fileOffset;
    let end = compressedSpan(last).end;
    for (let i = 0; i < r.sizes.length; i += 2) {
      const total = padTo4(r.sizes[i]!);
      if (at >= end) {
        last.sizes.push(r.sizes[i]!, r.sizes[i + 1]!);
        end += total;
      }
      at += total;
    }
  }
  return out;
}

export function compressedSpan(b: BlockRange): { start: number; end: number } {
  let end = b.fileOffset;
  for (let i = 0; i < b.sizes.length; i += 2) end += padTo4(b.sizes[i]!);
  return { start: b.fileOffset, end };
}

/** Uncompressed bytes [start, end) the range decodes to. */
export function uncompressedSpan(b: BlockRange): { start: number; end: number } {
  let end = b.uncompressedOffset;
  for (let i = 1; i < b.sizes.length; i += 2) end += b.sizes[i]!;
  return { start: b.uncompressedOffset, end };
}

function checkHeader(o: Record<string, unknown>, format: string): void {
  if (o.format !== format) fail(`not a ${format} object`);
  if (o.version !== FORMAT_VERSION)
    fail(`format version ${String(o.version)}; this packdebug reads version ${FORMAT_VERSION}`);
}

function decodeTarballRecord(v: unknown, what: string): TarballRecord {
  if (!Array.isArray(v) || v.length < 5) fail(`${what}: bad tarball record`);
  const [path, size, stamp, buildNumber, mtimeMs] = v as unknown[];
  if (!isSafeTarballPath(path)) fail(`${what}: unsafe tarball path ${JSON.stringify(path)}`);
  if (typeof stamp !== 'string' || !/^[0-9a-f]{32}$/.test(stamp)) fail(`${what}: bad stamp`);
  if (buildNumber !== null && !isCount(buildNumber)) fail(`${what}: bad BUILD_ID`);
  if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs)) fail(`${what}: bad mtime`);
  return { path, size: count(size, `${what}: size`), stamp, buildNumber: buildNumber as number | null, mtimeMs };
}

/** Checks that a member's offsets and Blocks agree and fit a tarball of `tarballSize` bytes. */
function checkPlacement(
  m: Omit<ShardEntry, 'buildId' | 'kinds' | 'tarball' | 'member'>,
  tarballSize: number,
  what: string,
) {
  if (m.dataOffset < m.headerOffset + 512 || m.dataOffset % 512 !== 0 || m.headerOffset % 512 !== 0)
    fail(`${what}: bad member offsets`);
  if (!m.blocks) return;
  const c = compressedSpan(m.blocks);
  const u = uncompressedSpan(m.blocks);
  if (c.end > tarballSize) fail(`${what}: Blocks end at ${c.end}, past the tarball's ${tarballSize} bytes`);
  if (m.blocks.fileOffset < 12) fail(`${what}: Blocks start inside the Stream Header`);
  if (u.start > m.headerOffset || u.end < m.dataOffset + m.size) fail(`${what}: the Blocks do not cover the member`);
}

function parseJson(text: Buffer | string): Record<string, unknown> {
  let o: unknown;
  try {
    o = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch {
    fail('not valid JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('not a JSON object');
  return o as Record<string, unknown>;
}

export function decodeShard(text: Buffer | string, expectedPrefix: string): Shard {
  const o = parseJson(text);
  checkHeader(o, 'packdebug-index-shard');
  if (o.prefix !== expectedPrefix) fail(`holds prefix ${JSON.stringify(o.prefix)}, not ${expectedPrefix}`);
  if (typeof o.generation !== 'string' || o.generation.length > 64) fail('bad generation');
  if (!Array.isArray(o.tarballs) || !Array.isArray(o.entries)) fail('no tarball or entry list');
  const tarballs = o.tarballs.map((t: unknown, i) => {
    const rec = decodeTarballRecord(t, `tarball ${i}`);
    const key = (t as unknown[])[5];
    if (typeof key !== 'string' || !/^[0-9a-f]{32}$/.test(key)) fail(`tarball ${i}: bad key`);
    return { ...rec, key };
  });
  const entries = o.entries.map((v: unknown, i): ShardEntry => {
    const what = `entry ${i}`;
    if (!Array.isArray(v) || v.length < 7) fail(`${what}: not an entry`);
    const [buildId, kinds, tarball, member, size, headerOffset, dataOffset, blocks] = v as unknown[];
    if (typeof buildId !== 'string' || !isBuildId(buildId) || !buildId.startsWith(expectedPrefix))
      fail(`${what}: bad build-id`);
    if (typeof member !== 'string' || member.length === 0 || member.length > 8192 || member.includes('\0'))
      fail(`${what}: bad member name`);
    const t = count(tarball, `${what}: tarball`);
    if (t >= tarballs.length) fail(`${what}: no tarball ${t}`);
    const e: ShardEntry = {
      buildId,
      kinds: count(kinds, `${what}: kinds`),
      tarball: t,
      member,
      size: count(size, `${what}: size`),
      headerOffset: count(headerOffset, `${what}: header offset`),
      dataOffset: count(dataOffset, `${what}: data offset`),
    };
    const range = decodeBlocks(blocks, what);
    if (range) e.blocks = range;
    checkPlacement(e, tarballs[t]!.size, what);
    return e;
  });
  const shard: Shard = {
    format: 'packdebug-index-shard',
    version: FORMAT_VERSION,
    generation: o.generation,
    prefix: expectedPrefix,
    tarballs,
    entries,
  };
  if (o.split === true) shard.split = true;
  return shard;
}

export function decodeTarballObject(text: Buffer | string): TarballObject {
  const o = parseJson(text);
  checkHeader(o, 'packdebug-index-tarball');
  const rec = decodeTarballRecord(o.tarball, 'tarball');
  if (!Array.isArray(o.members)) fail('no member list');
  const members = o.members.map((v: unknown, i): MemberRecord => {
    const what = `member ${i}`;
    if (!Array.isArray(v) || v.length < 6) fail(`${what}: not a member`);
    const [name, type, size, headerOffset, dataOffset, blocks, buildId, kinds, linkpath] = v as unknown[];
    if (typeof name !== 'string' || name.length === 0 || name.length > 8192 || name.includes('\0'))
      fail(`${what}: bad name`);
    if (typeof type !== 'string' || type.length !== 1) fail(`${what}: bad type`);
    const m: MemberRecord = {
      name,
      type,
      size: count(size, `${what}: size`),
      headerOffset: count(headerOffset, `${what}: header offset`),
      dataOffset: count(dataOffset, `${what}: data offset`),
    };
    const range = decodeBlocks(blocks, what);
    if (range) m.blocks = range;
    if (typeof buildId === 'string' && buildId !== '') {
      if (!isBuildId(buildId)) fail(`${what}: bad build-id`);
      m.buildId = buildId;
      m.kinds = count(kinds, `${what}: kinds`);
    }
    if (typeof linkpath === 'string') m.linkpath = linkpath;
    checkPlacement(m, rec.size, what);
    return m;
  });
  return { format: 'packdebug-index-tarball', version: FORMAT_VERSION, ...rec, members };
}

export function decodeManifest(text: Buffer | string): Manifest {
  const o = parseJson(text);
  checkHeader(o, 'packdebug-index');
  if (typeof o.generation !== 'string') fail('bad generation');
  const split = Array.isArray(o.split) ? o.split : [];
  if (!split.every((p) => typeof p === 'string' && /^([0-9a-f]{2}){1,8}$/.test(p))) fail('bad split list');
  const damaged = Array.isArray(o.damaged) ? (o.damaged as Manifest['damaged']) : [];
  return {
    format: 'packdebug-index',
    version: FORMAT_VERSION,
    generation: o.generation,
    created: String(o.created ?? ''),
    tarballs: count(o.tarballs, 'tarballs'),
    buildIds: count(o.buildIds, 'buildIds'),
    entries: count(o.entries, 'entries'),
    split: split as string[],
    damaged,
  };
}
