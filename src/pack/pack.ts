import { availableParallelism } from 'node:os';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError } from '../errors.js';
import { type ImageEntry, walkDebugRoots } from '../image/walk.js';
import { defaultTarballPath, validateIdentity } from '../portage/naming.js';
import { canonicalPath, compareDigestSets, EMPTY_SHA256, type MemberDigest } from '../tar/digest.js';
import { classifySymlink, leavesDebugRoots, symlinkEscapeMessage } from '../tar/symlink.js';
import { AtomicFile } from '../util/atomic.js';
import type { Semaphore } from '../util/limit.js';
import { resolveEncoder } from '../xz/block-encoder.js';
import { parsePreset, presetOptions } from '../xz/lzma2-options.js';
import { writeSeekableXz } from '../xz/seekable-writer.js';
import { type LayoutOptions, planBlocks, resolveLayout } from '../tarball/layout.js';
import type { PackLogger } from '../util/io.js';
import type { PackOptions, PackResult } from './options.js';
import { removePacked } from './remove.js';
import { TarSource } from './source.js';
import { type MemberData, planTar, type TarPlan } from '../image/tar-plan.js';
import { digestTarball, WrittenTarballVerifier } from './verify.js';

export { DEFAULT_BLOCK_SIZE, defaultLargeBlockSize, MIN_BLOCK_SIZE } from '../tarball/layout.js';

/** Digests of the planned members, for comparison with an existing tarball. */
export function planDigests(plan: TarPlan, hashes: ReadonlyMap<number, string>): MemberDigest[] {
  return plan.members.map((m, i) => ({
    path: canonicalPath(m.entry.member),
    type: m.entry.kind,
    size: m.dataSize,
    mode: m.entry.mode,
    linkpath: m.entry.kind === 'hardlink' ? canonicalPath(m.entry.linkTarget) : m.entry.linkTarget,
    sha256: hashes.get(i) ?? (m.entry.kind === 'file' ? EMPTY_SHA256 : ''),
  }));
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fs.stat(a), fs.stat(b)]);
  if (sa.size !== sb.size) return false;
  const [fa, fb] = await Promise.all([fs.open(a), fs.open(b)]);
  try {
    const chunk = 1 << 20;
    const ba = Buffer.alloc(chunk);
    const bb = Buffer.alloc(chunk);
    for (let pos = 0; pos < sa.size; pos += chunk) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, chunk, pos), fb.read(bb, 0, chunk, pos)]);
      if (ra.bytesRead !== rb.bytesRead || !ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead)))
        return false;
    }
    return true;
  } finally {
    await fa.close();
    await fb.close();
  }
}

/** Settings of the pack engine, checked and with defaults applied. */
export interface EngineSettings {
  lzma: ReturnType<typeof presetOptions>;
  threads: number;
  /** How the tar stream is cut into Blocks (resolveLayout). */
  layout: LayoutOptions;
  encoder: Awaited<ReturnType<typeof resolveEncoder>>;
  /** Encoder slots shared by concurrent packs (see SeekableWriteOptions.sharedSlots). */
  sharedSlots?: <T>(task: () => Promise<T>) => Promise<T>;
  /** Blocks in memory over all concurrent packs (see SeekableWriteOptions.sharedBudget). */
  sharedBudget?: Semaphore;
}

/** Checks the compression options shared by every command that packs. */
export async function engineSettings(
  opts: Pick<PackOptions, 'preset' | 'threads' | 'blockSize' | 'largeBlockSize' | 'sourceBlockSize' | 'encoder'>,
): Promise<EngineSettings> {
  const preset = parsePreset(opts.preset);
  const lzma = presetOptions(preset);
  const threads = opts.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1)
    throw new PackdebugError('E_USAGE', `invalid thread count '${opts.threads}'`);
  const layout = resolveLayout(opts, lzma.dictSize);
  const encoder = await resolveEncoder(opts.encoder);
  return { lzma, threads, layout, encoder };
}

/** What the engine packs: entries in canonical order and where their data comes from. */
export interface EngineInput {
  entries: readonly ImageEntry[];
  /** The image directory (data read from its files) or another source of member data. */
  data: string | MemberData;
  out: string;
  /** Missing directories of `out` below this one are created (never through a symlink) and removed on failure. */
  root: string;
  /** Called after the tarball was verified, before it is renamed: the input must not have changed meanwhile. */
  checkUnchanged?: () => Promise<void>;
  log?: PackLogger;
}

export interface EngineResult {
  how: 'written' | 'replaced' | 'unchanged';
  plan: TarPlan;
  compressedBytes: number;
  blocks: number;
  hashes: ReadonlyMap<number, string>;
}

/**
 * Plans the tar stream, writes it as a seekable .tar.xz under a temporary
 * name, reads it back and compares it with what was read, then renames it
 * into place. An existing file under the final name is left alone when
 * byte-identical, replaced when it has the same contents, and otherwise an
 * E_VERIFY error (nothing written).
 */
export async function packEntries(input: EngineInput, settings: EngineSettings): Promise<EngineResult> {
  const { out, log } = input;
  const existing = await fs.lstat(out).catch(() => undefined);
  if (existing && !existing.isFile())
    throw new PackdebugError('E_UNSAFE', `${out}: exists and is not a regular file`, { file: out });
  const plan = planTar(input.entries);
  const blocks = planBlocks(
    plan.members.map((m) => ({ offset: m.offset, end: m.end, name: m.entry.member })),
    plan.size,
    settings.layout,
  );
  const file = await AtomicFile.create(out, { root: input.root });
  const source = new TarSource(plan, input.data);
  try {
    const inputs = (async function* () {
      for (const b of blocks) yield await source.read(b);
    })();
    const verifier = new WrittenTarballVerifier(file.fh, file.temp, plan, source.hashes, settings.encoder);
    const written = await file.writing('writing the tarball', () =>
      writeSeekableXz(file.fh, inputs, {
        lzma: settings.lzma,
        encoder: settings.encoder,
        threads: settings.threads,
        sharedSlots: settings.sharedSlots,
        sharedBudget: settings.sharedBudget,
        onWritten: (at, record) => verifier.blockWritten(at, record),
        onBlock: (done, bytes) =>
          log?.progress?.(
            `packing ${done}/${blocks.length} Blocks, ` +
              `${(bytes / 2 ** 20).toFixed(1)} of ${(plan.size / 2 ** 20).toFixed(1)} MiB`,
          ),
      }),
    );
    await file.writing('writing the tarball', () => file.fh.sync());
    log?.progress?.('verifying');
    await verifier.finish(written.records);
    await input.checkUnchanged?.();
    const result = (how: EngineResult['how']): EngineResult => {
      warnEscapingSymlinks(input.entries, out, log);
      return {
        how,
        plan,
        compressedBytes: written.fileSize,
        blocks: written.records.length,
        hashes: source.hashes,
      };
    };

    if (existing) {
      if (await sameBytes(out, file.temp)) {
        // Packed before from the same input: leave the file (and its mtime) alone.
        await file.abort();
        return result('unchanged');
      }
      const old = await digestTarball(out).catch((err: PackdebugError) => {
        throw new PackdebugError(
          'E_VERIFY',
          `${out}: existing tarball cannot be read (${err.message}); left in place`,
          { file: out },
        );
      });
      const diffs = compareDigestSets(old, planDigests(plan, source.hashes));
      if (diffs.length > 0) {
        throw new PackdebugError(
          'E_VERIFY',
          `${out}: existing tarball differs from the image (${diffs[0]}); left in place, nothing written`,
          { file: out },
        );
      }
      await file.commit();
      return result('replaced');
    }
    await file.commit();
    return result('written');
  } finally {
    await source.close();
    await file.abort();
  }
}

/**
 * Packs usr/src/debug and usr/lib/debug of an image into a block-seekable
 * .tar.xz: written under a temporary name, read back and compared with the
 * image, then renamed into place; only then, optionally, removed from the image.
 */
export async function packImage(opts: PackOptions): Promise<PackResult> {
  const id = { category: opts.category, pn: opts.pn, pf: opts.pf, buildNumber: String(opts.buildNumber) };
  validateIdentity(id);
  const settings = await engineSettings(opts);
  const image = path.resolve(opts.image);
  const out = path.resolve(opts.out ?? defaultTarballPath(image, id));

  const walk = await walkDebugRoots(image, opts.sourceDateEpoch);
  const empty: PackResult = {
    status: 'empty',
    unchanged: false,
    members: 0,
    uncompressedBytes: 0,
    compressedBytes: 0,
    blocks: 0,
    removedFiles: 0,
    prunedDirs: 0,
    replaced: false,
  };
  if (!walk.entries.some((e) => e.kind !== 'directory')) return empty;

  const r = await packEntries(
    {
      entries: walk.entries,
      data: image,
      out,
      root: image,
      checkUnchanged: () => checkImageUnchanged(image, walk.entries),
      log: opts.log,
    },
    settings,
  );
  const result: PackResult = {
    status: 'packed',
    unchanged: r.how === 'unchanged',
    tarball: out,
    members: r.plan.members.length,
    uncompressedBytes: r.plan.size,
    compressedBytes: r.compressedBytes,
    blocks: r.blocks,
    removedFiles: 0,
    prunedDirs: 0,
    replaced: r.how === 'replaced',
  };
  if (opts.removePacked) {
    const removed = await removePacked(image, walk);
    result.removedFiles = removed.removedFiles;
    result.prunedDirs = removed.prunedDirs;
    for (const s of removed.skipped) opts.log?.warn(`${s}: changed after packing, left in the image`);
  }
  return result;
}

/**
 * The image's own links that leave the debug roots are stored as they are
 * (the package installed them, and debuginfod ignores symlinks), with a
 * warning by the rule audit reports symlink-escape by (src/tar/symlink.ts).
 * Said once the tarball is written, so a failed pack stays one line.
 */
function warnEscapingSymlinks(entries: readonly ImageEntry[], out: string, log: PackLogger | undefined): void {
  for (const e of entries) {
    if (e.kind === 'symlink' && leavesDebugRoots(classifySymlink(e.member, e.linkTarget)))
      log?.warn(`${out}: stored ${symlinkEscapeMessage(e.member, e.linkTarget)} (audit: symlink-escape)`);
  }
}

/** The tarball must describe the image as it is now, not as it was a minute ago. */
async function checkImageUnchanged(image: string, entries: readonly ImageEntry[]): Promise<void> {
  for (const e of entries) {
    const abs = path.join(image, e.relPath);
    const st = await fs.lstat(abs).catch(() => undefined);
    const same =
      st &&
      st.ino === e.ino &&
      st.dev === e.dev &&
      (e.kind === 'directory' || (st.mtimeMs === e.mtimeMs && (e.kind !== 'file' || st.size === e.size)));
    if (!same) throw new PackdebugError('E_CHANGED', `${abs}: changed while packing`, { file: abs });
  }
}
