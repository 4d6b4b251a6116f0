/**
 * Audits one tarball: its xz container, then its members.
 *
 * Shallow (the default) reads the Stream Footer, the Index and every Block
 * Header (no decoding), then walks the tar headers: from each header it
 * decodes on to the next one, and when a member's data runs on past the
 * next Block boundary it stops and resumes at the Block holding the next
 * header, so the Blocks inside large members (where debug files put most of
 * their bytes) are not decoded; an ELF member skipped that way is inspected
 * by random access (its first and last Blocks). A one-Block tarball larger
 * than pack's default Block size (Portage's own tarballs) has no such
 * shortcut: its headers are only reachable by decoding all of it, so a
 * shallow audit checks its container and says `headers-not-checked`
 * instead: the cost of a shallow audit stays bounded by the Index and one
 * small Block per header, whatever the size of the tarball.
 *
 * Deep decodes every Block in full (the Check of each verified by liblzma)
 * and parses the tar stream to its end, inspecting every ELF member.
 */
import { CAPTURE_HEAD_BYTES } from '../elf/capture.js';
import { gnuBuildIdFromSegments } from '../elf/index.js';
import { PackdebugError } from '../errors.js';
import { isOneSmallBlock } from '../tarball/layout.js';
import { paddedSize } from '../tar/header.js';
import { TarParser, type TarEntry, type TarVisitor } from '../tar/parse.js';
import { inspectElfAt } from '../tarball/elf-at.js';
import { captureElfMembers, type CapturedMember, type ElfCapturingVisitor } from '../tarball/elf-members.js';
import { compareMemberNames } from '../tarball/order.js';
import { openRegularFile } from '../util/regular-file.js';
import { TarballReader } from '../tarball/reader.js';
import { findXz } from '../xz/block-encoder.js';
import { isTruncatedXzMagic, sniffFormatStrict } from '../xz/file-layout.js';
import { MANY_READS_XZ_MIN_SPAN } from '../xz/random-access.js';
import { finding, type Finding, type FindingCode } from './findings.js';
import { MemberChecks } from './members.js';

export interface TarballAuditOptions {
  deep?: boolean;
  /**
   * Deep audits of tarballs with at least this many bytes of tar decode through xz(1) when there is one.
   * Default 8 MiB.
   */
  xzFrom?: number;
}

export type BlockLayout = 'none' | 'single-block' | 'packdebug' | 'aligned' | 'unaligned' | 'unknown';

export interface TarballAudit {
  file: string;
  bytes: number;
  blocks: number;
  uncompressedBytes: number;
  /** More than one Block and the Stream Footer last (debuginfod 0.192+ seeks). */
  seekable: boolean;
  /**
   * packdebug: Blocks at member headers, members sorted (pack); aligned: at
   * headers, original order (repack); unaligned: cut anywhere (xz -T);
   * single-block; none: no Blocks; unknown: not determined (damage, or a
   * one-Block tarball in a shallow audit).
   */
  layout: BlockLayout;
  /** Members whose headers were read; undefined when they were not. */
  members: number | undefined;
  elfFiles: number;
  elfNotInspected: number;
  buildIds: Set<string>;
  findings: Finding[];
  /** Uncompressed bytes decoded for this audit. */
  decodedBytes: number;
  /** An I/O error (not damage) stopped the audit of this file. */
  ioError: boolean;
  /** The file was gone when its turn came (a concurrent prune): nothing to report. */
  gone: boolean;
}

/**
 * Deep audits of tarballs with this much tar or more decode through xz(1) when there is one (its start-up then
 * does not matter).
 */
const XZ_DEEP_MIN = 8 << 20;

function errnoOf(err: unknown): string | undefined {
  const cause = err instanceof PackdebugError ? err.cause : err;
  return (cause as NodeJS.ErrnoException | undefined)?.code;
}

const isEnoent = (err: unknown) => errnoOf(err) === 'ENOENT';

/** Maps a read failure to a finding code. */
function failureCode(err: unknown, blockStage: boolean): FindingCode {
  if (err instanceof PackdebugError) {
    if (err.code === 'E_UNSUPPORTED') return 'xz-unsupported';
    if (err.code === 'E_FORMAT') return blockStage ? 'block-corrupt' : 'xz-corrupt';
  }
  return 'io-error';
}

function messageOf(err: unknown, file: string): string {
  const text = err instanceof Error ? err.message : String(err);
  // Messages name the file first; the finding already does.
  return text.startsWith(`${file}: `) ? text.slice(file.length + 2) : text;
}

/**
 * Follows the entries of a walk: member checks, ELF inspection of the data
 * that streams by, and how the Blocks are cut relative to the headers.
 */
class MemberWalk {
  readonly checks: MemberChecks;
  /** Per Block: 1 header at its start, 2 continuation of a member, 3 after the end of the archive, 4 unaligned. */
  readonly blockKinds: Uint8Array;
  sorted = true;
  /** Where the end-of-archive marker starts, as far as the members seen say. */
  archiveEnd = 0;
  #previousAtBlock: string | undefined;
  readonly #visitor: ElfCapturingVisitor;

  constructor(
    file: string,
    private readonly reader: TarballReader,
  ) {
    this.checks = new MemberChecks(file);
    this.blockKinds = new Uint8Array(reader.ra.blocks.length);
    this.#visitor = captureElfMembers((e, info) => this.checks.elf(e, info), {
      entry: (e) => {
        this.checks.entry(e);
        this.archiveEnd = Math.max(this.archiveEnd, e.dataOffset + paddedSize(e.size));
        this.#classifyBlocks(e);
      },
      ambiguous: (message, member) => this.checks.ambiguous(message, member),
    });
  }

  visitor(): TarVisitor {
    return this.#visitor;
  }

  /** The member being read, and its ELF capture while it is or may be ELF. */
  get current(): CapturedMember | undefined {
    return this.#visitor.current;
  }

  /** The member now being read was skipped from here on: inspect its ELF by random access. */
  async skipped(): Promise<void> {
    const c = this.#visitor.detach();
    if (!c) return;
    // The note through the program headers, confirmed by the estrip link that names the same id: no need
    // to decode the member's last Block for its section headers (most of a shallow audit's decoding otherwise).
    const quick = gnuBuildIdFromSegments(c.capture);
    if (quick !== undefined && this.checks.linkClaims(c.entry.path, quick)) {
      this.checks.elf(c.entry, { gnuBuildId: quick });
      return;
    }
    this.checks.elf(c.entry, await inspectElfAt(this.reader.ra, c.entry, c.capture));
  }

  /** The archive's end-of-archive marker starts at `offset`: Blocks from there on hold only zeros. */
  trailerAt(offset: number): void {
    const blocks = this.reader.ra.blocks;
    for (let i = 0; i < blocks.length; i++)
      if (blocks[i]!.uncompressedOffset >= offset && this.blockKinds[i] === 0) this.blockKinds[i] = 3;
  }

  #classifyBlocks(e: TarEntry): void {
    const ra = this.reader.ra;
    const blocks = ra.blocks;
    if (blocks.length < 2 || e.headerOffset >= ra.size) return;
    const first = ra.blockIndexAt(e.headerOffset);
    const atStart = blocks[first]!.uncompressedOffset === e.headerOffset;
    if (atStart) {
      this.blockKinds[first] = 1;
      if (this.#previousAtBlock !== undefined && compareMemberNames(this.#previousAtBlock, e.path) >= 0)
        this.sorted = false;
      this.#previousAtBlock = e.path;
    }
    const end = Math.min(e.dataOffset + paddedSize(e.size), ra.size);
    for (let i = first + 1; i < blocks.length && blocks[i]!.uncompressedOffset < end; i++) {
      if (blocks[i]!.uncompressedSize > 0) this.blockKinds[i] = atStart ? 2 : 4;
    }
  }

  layout(): BlockLayout {
    if (this.blockKinds.length < 2) return this.blockKinds.length === 0 ? 'none' : 'single-block';
    const empty = (i: number) => this.reader.ra.blocks[i]!.uncompressedSize === 0;
    for (let i = 0; i < this.blockKinds.length; i++)
      if ((this.blockKinds[i] === 0 && !empty(i)) || this.blockKinds[i] === 4) return 'unaligned';
    return this.sorted ? 'packdebug' : 'aligned';
  }
}

/** The record of a tarball nothing is known about yet. */
export function emptyAudit(file: string): TarballAudit {
  return {
    file,
    bytes: 0,
    blocks: 0,
    uncompressedBytes: 0,
    seekable: false,
    layout: 'unknown',
    members: undefined,
    elfFiles: 0,
    elfNotInspected: 0,
    buildIds: new Set(),
    findings: [],
    decodedBytes: 0,
    ioError: false,
    gone: false,
  };
}

export async function auditTarball(file: string, options: TarballAuditOptions = {}): Promise<TarballAudit> {
  const result = emptyAudit(file);
  if (!(await checkMagic(result))) return result;
  const reader = await openForAudit(result);
  if (!reader) return result;
  try {
    if (await checkContainer(reader, result, options.deep ?? false)) await auditMembers(reader, result, options);
    return result;
  } finally {
    result.decodedBytes = reader.bytesDecoded;
    await reader.close().catch(() => undefined);
  }
}

function addFinding(result: TarballAudit, code: FindingCode, message: string, member?: string): void {
  result.findings.push(finding(code, result.file, message, member));
}

/** Records a failure to read the file (`blockStage`: while decoding Blocks) as a finding, or that the file is gone. */
function recordFailure(result: TarballAudit, err: unknown, blockStage: boolean): void {
  if (!blockStage && isEnoent(err)) {
    result.gone = true;
    return;
  }
  // Opened with O_NOFOLLOW: a symlink swapped in since the walk is reported as the walk would, never read through.
  if (!blockStage && errnoOf(err) === 'ELOOP') {
    addFinding(result, 'symlink', 'a symlink (not followed)');
    return;
  }
  const code = failureCode(err, blockStage);
  if (code === 'io-error') result.ioError = true;
  addFinding(result, code, messageOf(err, result.file));
}

/** The magic first: a file that is not xz at all is named as what it is. False when the audit ends here. */
async function checkMagic(result: TarballAudit): Promise<boolean> {
  try {
    const fh = await openRegularFile(result.file, { noFollow: true });
    try {
      result.bytes = (await fh.stat()).size;
      const head = Buffer.alloc(16);
      const { bytesRead } = await fh.read(head, 0, 16, 0);
      if (result.bytes === 0) {
        addFinding(result, 'empty-tarball', 'zero bytes');
        return false;
      }
      // A file cut inside the magic is damaged xz (xz-corrupt, from the layout read below), not another format.
      const kind = isTruncatedXzMagic(head.subarray(0, bytesRead))
        ? 'xz'
        : sniffFormatStrict(head.subarray(0, bytesRead));
      if (kind !== 'xz') {
        addFinding(result, 'not-xz', kind ? `is ${kind} data, not xz` : 'not an xz file (bad magic)');
        return false;
      }
    } finally {
      await fh.close();
    }
  } catch (err) {
    recordFailure(result, err, false);
    return false;
  }
  return true;
}

/** The reader the audit decodes with; undefined (the failure recorded) when the xz container cannot be read. */
async function openForAudit(result: TarballAudit): Promise<TarballReader | undefined> {
  try {
    // Whole Blocks are read: those under 1 MiB in-process (no xz process per small Block), larger ones by xz(1);
    // the decoded-Block cache serves only inspectElfAt.
    return await TarballReader.open(
      result.file,
      { PACKDEBUG_CACHE_DIR: '' },
      { prefixChunk: 64 << 10, cacheBytes: 16 << 20, xzMinSpan: MANY_READS_XZ_MIN_SPAN, noFollow: true },
    );
  } catch (err) {
    recordFailure(result, err, false);
    return undefined;
  }
}

/** The container: Block Headers, seekability, emptiness. True when the members are to be walked. */
async function checkContainer(reader: TarballReader, result: TarballAudit, deep: boolean): Promise<boolean> {
  const ra = reader.ra;
  result.blocks = ra.blocks.length;
  result.uncompressedBytes = ra.size;
  result.seekable = reader.seekable;
  for (let i = 0; i < ra.blocks.length; i++) {
    try {
      await ra.checkBlockHeader(i);
    } catch (err) {
      recordFailure(result, err, false);
      return false;
    }
  }
  // One small Block costs a reader no more than a Block of a seekable tarball: not a finding,
  // and a shallow audit reads its headers.
  const oneLargeBlock = ra.blocks.length === 1 && !isOneSmallBlock(1, ra.size);
  if (oneLargeBlock)
    addFinding(
      result,
      'not-seekable',
      `one xz Block of ${ra.size} bytes: every cold debuginfod request decodes it from the start`,
    );
  if (!ra.layout.footerLast && ra.blocks.length > 1)
    addFinding(
      result,
      'footer-not-last',
      'Stream Padding follows the Stream Footer: debuginfod does not seek in this file',
    );
  if (ra.size === 0) {
    addFinding(result, 'no-members', 'the xz stream holds no data');
    result.members = 0;
    result.layout = ra.blocks.length === 0 ? 'none' : 'unknown';
    return false;
  }
  if (!deep && oneLargeBlock) {
    result.layout = 'single-block';
    addFinding(
      result,
      'headers-not-checked',
      `members not checked: their headers are only reachable by decoding all ${ra.size} bytes (audit --deep does)`,
    );
    return false;
  }
  return true;
}

/** Walks the members (shallow, or deep through xz(1) or in process) and records what the walk found. */
async function auditMembers(reader: TarballReader, result: TarballAudit, options: TarballAuditOptions): Promise<void> {
  const ra = reader.ra;
  let walk = new MemberWalk(result.file, reader);
  let ok: boolean;
  if (!options.deep) ok = await shallowWalk(reader, walk, result);
  else if (ra.size >= (options.xzFrom ?? XZ_DEEP_MIN) && (await findXz()) && (await xzDeepWalk(reader, walk)))
    ok = true;
  else {
    // In process, Block by Block: names the Block or member at fault, and verifies the others too.
    walk = new MemberWalk(result.file, reader);
    ok = await deepWalk(reader, walk, result);
  }
  walk.checks.finish();
  result.members = walk.checks.members;
  result.elfFiles = walk.checks.elfFiles;
  result.elfNotInspected = walk.checks.elfNotInspected;
  result.buildIds = walk.checks.buildIds;
  result.findings.push(...walk.checks.findings);
  if (!ok) return;
  result.layout = walk.layout();
  if (result.layout === 'unaligned')
    addFinding(result, 'blocks-unaligned', `${ra.blocks.length} xz Blocks, not all starting at member headers`);
  if (walk.checks.members === 0) addFinding(result, 'no-members', 'the tar stream holds no members');
}

/** See the file comment. True when the walk reached the end of the archive. */
async function shallowWalk(reader: TarballReader, walk: MemberWalk, result: TarballAudit): Promise<boolean> {
  const visitor = walk.visitor();
  let offset = 0;
  let parser: TarParser | undefined;
  while (offset < reader.ra.size) {
    const segment = await readSegment(reader, walk, visitor, offset);
    parser = segment.parser;
    if (segment.blockError !== undefined) {
      recordFailure(result, segment.blockError, true);
      return false;
    }
    if (segment.tarError !== undefined) {
      addFinding(result, 'tar-corrupt', messageOf(segment.tarError, reader.path));
      return false;
    }
    if (parser.ended) {
      walk.trailerAt(parser.offset - 1024);
      return true;
    }
    if (segment.jump === undefined) break;
    try {
      await walk.skipped();
    } catch (err) {
      recordFailure(result, err, true);
      return false;
    }
    offset = segment.jump;
  }
  return checkStreamEnd(reader, walk, parser, offset, result);
}

/** How a segment of the shallow walk ended (none set: the tar stream ended, or its end-of-archive marker came). */
interface Segment {
  parser: TarParser;
  /** Where to resume: the end of a member whose data runs on past the next Block boundary. */
  jump?: number;
  /** The tar stream is damaged. */
  tarError?: unknown;
  /** A Block could not be decoded or read. */
  blockError?: unknown;
}

/** Parses the tar stream from `offset` until its end, damage, or a member it can skip (see `nextRead`). */
async function readSegment(
  reader: TarballReader,
  walk: MemberWalk,
  visitor: TarVisitor,
  offset: number,
): Promise<Segment> {
  const ra = reader.ra;
  const parser = new TarParser(visitor, reader.path, offset);
  const segment: Segment = { parser };
  let pos = offset;
  // The end of the Block holding the end-of-archive marker: that Block is decoded to its end (only tar
  // padding follows the marker), so that its size and Check are verified against the Index.
  let trailerEnd = Infinity;
  try {
    await reader.streamFrom(
      offset,
      (chunk) => {
        if (parser.ended) return true;
        try {
          parser.write(chunk);
        } catch (err) {
          segment.tarError = err;
          return false;
        }
        pos += chunk.length;
        if (parser.ended) {
          const b = ra.blocks[ra.blockIndexAt(pos - 1)]!;
          trailerEnd = b.uncompressedOffset + b.uncompressedSize;
          return true;
        }
        const next = nextRead(reader, walk, pos);
        if (next === 'read-on') return true;
        Object.assign(segment, next);
        return false;
      },
      () => trailerEnd,
    );
  } catch (err) {
    segment.blockError = err;
  }
  return segment;
}

/**
 * After the tar stream was read up to `pos`: read on, or stop, either to
 * resume at the end of the member being read (its data runs on past the
 * next Block boundary) or because that member extends past the stream.
 */
function nextRead(
  reader: TarballReader,
  walk: MemberWalk,
  pos: number,
): 'read-on' | { jump: number } | { tarError: PackdebugError } {
  const ra = reader.ra;
  const c = walk.current;
  if (!c || c.entry.size === 0) return 'read-on';
  const dataEnd = c.entry.dataOffset + paddedSize(c.entry.size);
  if (c.entry.dataOffset + c.entry.size > ra.size) {
    return {
      tarError: new PackdebugError(
        'E_FORMAT',
        `${reader.path}: member '${c.entry.path}' at offset ${c.entry.headerOffset} ` +
          `extends past the end of the tar stream (${ra.size} bytes)`,
        { file: reader.path },
      ),
    };
  }
  const block = ra.blockIndexAt(pos - 1);
  const blockEnd = ra.blocks[block]!.uncompressedOffset + ra.blocks[block]!.uncompressedSize;
  // A member that ends exactly where its Block ends (the last part of a large member, as pack cuts
  // it) leaves nothing to read there either.
  if (dataEnd < blockEnd) return 'read-on';
  // The rest of this Block is the member's data: no header in it. Resume at the member's end,
  // once an ELF member's head is captured; an ELF member that ends in the next Block is read
  // on instead (inspecting it by random access would decode that Block twice).
  if (c.capture !== undefined) {
    const skipsBlocks = dataEnd >= ra.size || ra.blockIndexAt(dataEnd) > block + 1;
    if (!skipsBlocks || c.capture.position < Math.min(c.entry.size, CAPTURE_HEAD_BYTES)) return 'read-on';
  }
  return { jump: dataEnd };
}

/** The tar stream ended without an end-of-archive marker: fine between members (GNU tar only warns). */
function checkStreamEnd(
  reader: TarballReader,
  walk: MemberWalk,
  parser: TarParser | undefined,
  offset: number,
  result: TarballAudit,
): boolean {
  if (walk.current) {
    addFinding(result, 'tar-corrupt', `truncated tar stream (ends inside member '${walk.current.entry.path}')`);
    return false;
  }
  // ... but not inside a header (a partial 512-byte block, a pax or long-name header without its member).
  try {
    if (offset >= reader.ra.size || parser === undefined) return true;
    parser.end();
  } catch (err) {
    addFinding(result, 'tar-corrupt', messageOf(err, reader.path));
    return false;
  }
  return true;
}

/**
 * A deep walk through xz(1) (which verifies every Check, the Index and the
 * sizes, 2.5 times as fast as the bundled liblzma, on the other core).
 * False when anything failed: the in-process walk then finds out what.
 */
async function xzDeepWalk(reader: TarballReader, walk: MemberWalk): Promise<boolean> {
  try {
    await reader.scan(walk.visitor());
  } catch {
    return false;
  }
  walk.trailerAt(walk.archiveEnd);
  return true;
}

/** Decodes every Block in full and parses the whole tar stream. */
async function deepWalk(reader: TarballReader, walk: MemberWalk, result: TarballAudit): Promise<boolean> {
  const ra = reader.ra;
  const parser = new TarParser(walk.visitor(), reader.path);
  let tarError: unknown;
  let corrupt = 0;
  for (let i = 0; i < ra.blocks.length; i++) {
    try {
      await ra.streamBlock(i, (chunk) => {
        if (tarError === undefined && corrupt === 0 && !parser.ended) {
          try {
            parser.write(chunk);
          } catch (err) {
            tarError = err;
          }
        }
        return true; // the whole Block, so that its Check is verified
      });
    } catch (err) {
      // Go on: the other Blocks are verified too (a few findings at most).
      if (++corrupt <= 3) recordFailure(result, err, true);
      if (!(err instanceof PackdebugError) || err.code !== 'E_FORMAT') return false;
    }
  }
  if (corrupt > 3) addFinding(result, 'block-corrupt', `${corrupt - 3} more Blocks are corrupt`);
  if (corrupt > 0) return false;
  if (tarError === undefined && !parser.ended) {
    try {
      parser.end();
    } catch (err) {
      tarError = err;
    }
  }
  if (tarError !== undefined) {
    addFinding(result, 'tar-corrupt', messageOf(tarError, reader.path));
    return false;
  }
  if (parser.ended) walk.trailerAt(parser.offset - 1024);
  return true;
}
