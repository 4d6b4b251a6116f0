import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import { PackdebugError, fromSystemError } from '../errors.js';
import { BlockPlanner, isOneSmallBlock, resolveLayout } from './layout.js';
import { paddedSize } from '../tar/header.js';
import { TarParser } from '../tar/parse.js';
import { AtomicFile, lstatBelow } from '../util/atomic.js';
import { sameStamp } from '../util/file-stamp.js';
import { findXz, resolveEncoder, type EncoderChoice } from '../xz/block-encoder.js';
import { forEachBlock } from '../xz/block-decoder.js';
import { readXzLayout } from '../xz/file-layout.js';
import { parsePreset, presetOptions } from '../xz/lzma2-options.js';
import { writeSeekableXz } from '../xz/seekable-writer.js';
import { decodeSequential } from '../xz/sequential.js';
import { decodeFileWithXzProcess, XzFailedError, XzMissingError } from '../xz/xz-process.js';
import { TarballReader } from './reader.js';

export interface RepackOptions {
  /** As for pack (PackOptions): default 1984 KiB. */
  blockSize?: number;
  largeBlockSize?: number;
  sourceBlockSize?: number;
  preset?: string;
  threads?: number;
  encoder?: EncoderChoice;
  dryRun?: boolean;
  progress?: (message: string) => void;
  /**
   * The directory the tarball must stay in (the hook: ${ED}). No component
   * from it down to the file may be a symlink, checked before reading and
   * again right before the rename (E_UNSAFE).
   */
  root?: string;
}

export interface RepackResult {
  tarball: string;
  status: 'repacked' | 'skipped' | 'would-repack';
  /** Why it was skipped. */
  reason?: string;
  bytesBefore: number;
  bytesAfter?: number;
  blocksBefore: number;
  blocksAfter?: number;
}

/**
 * The uncompressed tar stream, decoded from the start with backpressure.
 * `source` names the open file (XzRandomAccess.openFilePath), so what is
 * decoded is what the layout was read from; `file` is for messages.
 */
async function* decodedStream(source: string, file: string): AsyncGenerator<Buffer> {
  if (await findXz()) {
    try {
      yield* decodeFileWithXzProcess(source);
      return;
    } catch (err) {
      if (err instanceof XzFailedError)
        throw new PackdebugError('E_FORMAT', `${file}: corrupt xz data: ${err.message}`, { file, cause: err });
      // Gone since the probe: nothing was yielded yet, so decode in-process.
      if (!(err instanceof XzMissingError)) throw err;
    }
  }
  // Without xz(1): lzma-native, one chunk at a time through a small queue.
  const queue: Buffer[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let failure: unknown;
  const decoding = decodeSequential(
    source,
    (chunk) => {
      queue.push(Buffer.from(chunk));
      wake?.();
    },
    file,
  ).then(
    () => void (done = true),
    (err) => void ((failure = err), (done = true)),
  );
  for (;;) {
    if (queue.length > 0) yield queue.shift()!;
    else if (done) break;
    else await new Promise<void>((resolve) => (wake = resolve));
    wake?.();
  }
  await decoding;
  if (failure) throw failure;
}

/**
 * Rewrites a tarball into packdebug's seekable layout. The uncompressed tar
 * stream stays byte-identical (checked by SHA-256 of the new file's decoded
 * stream before the atomic replace); mode and owner are kept, the mtime is
 * new so that debuginfod rescans the file. A symlink is refused (renaming
 * over it would leave its target as it was); a file replaced or modified
 * while it was repacked is left alone (E_CHANGED).
 */
export async function repackTarball(file: string, opts: RepackOptions): Promise<RepackResult> {
  const lzma = presetOptions(parsePreset(opts.preset));
  const cutting = resolveLayout(opts, lzma.dictSize);
  if (opts.root !== undefined) await lstatBelow(opts.root, file);
  const link = await fs.lstat(file).catch((err) => {
    throw fromSystemError(err, file, 'reading');
  });
  if (link.isSymbolicLink())
    throw new PackdebugError('E_INPUT', `${file} is a symlink; repack the file it points to`, { file });
  if (!link.isFile()) throw new PackdebugError('E_INPUT', `${file}: not a regular file`, { file });
  // O_NOFOLLOW: a symlink swapped in since the lstat fails instead of being read through.
  const reader = await TarballReader.open(file, undefined, { noFollow: true });
  try {
    // The file as opened: what is decoded, and what the path must still name at the rename.
    const st = await reader.ra.stat();
    const before = { tarball: file, bytesBefore: st.size, blocksBefore: reader.ra.blocks.length };
    // Repacking would write the same single Block again (and make debuginfod rescan it for nothing).
    if (
      isOneSmallBlock(
        reader.ra.blocks.length,
        reader.ra.size,
        Math.min(cutting.blockSize, cutting.sources?.blockSize ?? cutting.blockSize),
      )
    ) {
      return { ...before, status: 'skipped', reason: `one Block of ${reader.ra.size} bytes of tar, read whole` };
    }
    if ((await reader.locator.layout()).aligned)
      return { ...before, status: 'skipped', reason: 'already in the seekable layout' };
    if (opts.dryRun) return { ...before, status: 'would-repack' };
    reader.ra.clearCache(); // the layout probes' Blocks: the rewrite decodes from the start, by decodedStream
    return await rewrite(file, reader, st, before, lzma, cutting, opts);
  } finally {
    await reader.close();
  }
}

/**
 * A file that is no longer what was read (renamed over, rewritten, touched) must not be replaced by the old
 * contents.
 */
async function checkUnchanged(file: string, st: Stats): Promise<void> {
  const now = await fs.lstat(file).catch(() => undefined);
  if (!sameStamp(now, st)) {
    throw new PackdebugError(
      'E_CHANGED',
      `${file}: changed while it was repacked (${now ? 'replaced or modified' : 'removed'}); ` +
        'left as it is now, run again',
      { file },
    );
  }
}

async function rewrite(
  file: string,
  reader: TarballReader,
  st: Stats,
  before: Pick<RepackResult, 'tarball' | 'bytesBefore' | 'blocksBefore'>,
  lzma: ReturnType<typeof presetOptions>,
  cutting: ReturnType<typeof resolveLayout>,
  opts: RepackOptions,
): Promise<RepackResult> {
  const encoder = await resolveEncoder(opts.encoder);
  const threads = opts.threads ?? availableParallelism();
  const planner = new BlockPlanner(cutting);
  const largest = Math.max(cutting.largeBlockSize, cutting.sources?.largeBlockSize ?? 0);
  const cuts: number[] = [];
  const parser = new TarParser(
    { entry: (e) => cuts.push(...planner.addMember(e.headerOffset, e.dataOffset + paddedSize(e.size), e.path)) },
    file,
  );
  const originalHash = createHash('sha256');
  let streamSize = 0;

  const inputs = async function* (): AsyncGenerator<Buffer> {
    let pending: Buffer[] = [];
    let pendingStart = 0;
    let pendingBytes = 0;
    const take = (n: number): Buffer => {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      const out = all.subarray(0, n);
      const rest = all.subarray(n);
      pending = rest.length > 0 ? [rest] : [];
      pendingStart += n;
      pendingBytes -= n;
      return out;
    };
    for await (const chunk of decodedStream(reader.ra.openFilePath, file)) {
      originalHash.update(chunk);
      streamSize += chunk.length;
      if (!parser.ended) parser.write(chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      while (cuts.length > 0 && cuts[0]! <= pendingStart + pendingBytes) {
        const cut = cuts.shift()!;
        if (cut > pendingStart) yield take(cut - pendingStart);
      }
      // Bytes after the end of the archive, or a member the planner never cut: bounded Blocks all the same.
      while (pendingBytes >= largest) yield take(largest);
    }
    parser.end();
    if (pendingBytes > 0) yield take(pendingBytes);
  };

  opts.progress?.(`${file}: repacking`);
  const out = await AtomicFile.create(file, { mode: st.mode & 0o7777 });
  try {
    const written = await out.writing('writing the repacked tarball', () =>
      writeSeekableXz(out.fh, inputs(), {
        lzma,
        encoder,
        threads,
        onBlock: (n, bytes) => opts.progress?.(`${file}: ${n} Blocks, ${(bytes / 2 ** 20).toFixed(1)} MiB`),
      }),
    );
    // Verify: the new file decodes, Block by Block with its Checks, to the very same stream.
    const check = createHash('sha256');
    let size = 0;
    await out.writing('reading the repacked tarball back', async () => {
      const layout = await readXzLayout(out.fh, out.temp);
      await forEachBlock(
        out.fh,
        out.temp,
        layout,
        threads,
        (data) => {
          check.update(data);
          size += data.length;
        },
        encoder,
      );
    });
    if (size !== streamSize || check.digest('hex') !== originalHash.digest('hex')) {
      throw new PackdebugError('E_VERIFY', `${file}: repacked stream differs from the original; original kept`, {
        file,
      });
    }
    await out.fh.chmod(st.mode & 0o7777).catch((err) => {
      throw fromSystemError(err, file, 'keeping the mode');
    });
    await out.fh.chown(st.uid, st.gid).catch((err) => {
      throw fromSystemError(err, file, 'keeping the owner');
    });
    // Checked after the fsync, right before the rename: the window left is a few system calls.
    await out.commit(async () => {
      if (opts.root !== undefined) await lstatBelow(opts.root, file);
      await checkUnchanged(file, st);
    });
    return { ...before, status: 'repacked', bytesAfter: written.fileSize, blocksAfter: written.records.length };
  } finally {
    await out.abort();
  }
}
