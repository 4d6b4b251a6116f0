import { availableParallelism } from 'node:os';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';
import { type ImageEntry, walkDebugRoots } from '../image/walk.js';
import { defaultTarballPath, validateIdentity } from '../portage/naming.js';
import { canonicalPath, compareDigestSets, EMPTY_SHA256, type MemberDigest } from '../tar/digest.js';
import { AtomicFile } from '../util/atomic.js';
import { resolveEncoder } from '../xz/block-encoder.js';
import { parsePreset, presetOptions } from '../xz/lzma2-options.js';
import { writeSeekableXz } from '../xz/seekable-writer.js';
import { planBlocks, resolveLayout } from './layout.js';
import type { PackOptions, PackResult } from './options.js';
import { removePacked } from './remove.js';
import { TarSource } from './source.js';
import { planTar, type TarPlan } from './tar-plan.js';
import { digestTarball, WrittenTarballVerifier } from './verify.js';

export { DEFAULT_BLOCK_SIZE, defaultLargeBlockSize, MIN_BLOCK_SIZE } from './layout.js';

/** Digests of the planned members, for comparison with an existing tarball. */
function planDigests(plan: TarPlan, hashes: ReadonlyMap<number, string>): MemberDigest[] {
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
      if (ra.bytesRead !== rb.bytesRead || !ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
    }
    return true;
  } finally {
    await fa.close();
    await fb.close();
  }
}

/**
 * Packs usr/src/debug and usr/lib/debug of an image into a block-seekable
 * .tar.xz: written under a temporary name, read back and compared with the
 * image, then renamed into place; only then, optionally, removed from the image.
 */
export async function packImage(opts: PackOptions): Promise<PackResult> {
  const id = { category: opts.category, pn: opts.pn, pf: opts.pf, buildId: String(opts.buildId) };
  validateIdentity(id);
  const preset = parsePreset(opts.preset);
  const lzma = presetOptions(preset);
  const threads = opts.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new PackdebugError('E_USAGE', `invalid thread count '${opts.threads}'`);
  const layout = resolveLayout(opts, lzma.dictSize);
  const encoder = await resolveEncoder(opts.encoder);
  const image = path.resolve(opts.image);
  const out = path.resolve(opts.out ?? defaultTarballPath(image, id));
  const log = opts.log;

  const walk = await walkDebugRoots(image, opts.sourceDateEpoch);
  const empty: PackResult = { status: 'empty', unchanged: false, members: 0, uncompressedBytes: 0, compressedBytes: 0, blocks: 0, removedFiles: 0, prunedDirs: 0, replaced: false };
  if (!walk.entries.some((e) => e.kind !== 'directory')) return empty;

  const existing = await fs.lstat(out).catch(() => undefined);
  if (existing && !existing.isFile()) throw new PackdebugError('E_UNSAFE', `${out}: exists and is not a regular file`, { file: out });

  const plan = planTar(walk.entries);
  const blocks = planBlocks(
    plan.members.map((m) => ({ offset: m.offset, end: m.end, name: m.entry.member })),
    plan.size,
    layout,
  );
  const file = await AtomicFile.create(out, { root: image });
  const source = new TarSource(plan, image);
  let replaced = false;
  try {
    const inputs = (async function* () {
      for (const b of blocks) yield await source.read(b);
    })();
    const verifier = new WrittenTarballVerifier(file.fh, file.temp, plan, source.hashes, encoder);
    const written = await writeSeekableXz(file.fh, inputs, {
      lzma,
      encoder,
      threads,
      onWritten: (at, record) => verifier.blockWritten(at, record),
      onBlock: (done, bytes) =>
        log?.progress?.(`packing ${done}/${blocks.length} Blocks, ${(bytes / 2 ** 20).toFixed(1)} of ${(plan.size / 2 ** 20).toFixed(1)} MiB`),
    }).catch((err) => {
      throw fromSystemError(err, out, 'writing the tarball');
    });
    await file.fh.sync().catch((err) => {
      throw fromSystemError(err, out, 'writing the tarball');
    });
    log?.progress?.('verifying');
    await verifier.finish(written.records);
    await checkImageUnchanged(image, walk.entries);

    if (existing) {
      if (await sameBytes(out, file.temp)) {
        // Packed before from the same image: leave the file (and its mtime) alone.
        await file.abort();
        return await finish('unchanged', written.fileSize, written.records.length);
      }
      const old = await digestTarball(out).catch((err: PackdebugError) => {
        throw new PackdebugError('E_VERIFY', `${out}: existing tarball cannot be read (${err.message}); left in place`, { file: out });
      });
      const diffs = compareDigestSets(old, planDigests(plan, source.hashes));
      if (diffs.length > 0) {
        throw new PackdebugError('E_VERIFY', `${out}: existing tarball differs from the image (${diffs[0]}); left in place, nothing written`, { file: out });
      }
      replaced = true;
    }
    await file.commit();
    return await finish(replaced ? 'replaced' : 'written', written.fileSize, written.records.length);
  } finally {
    await source.close();
    await file.abort();
  }

  async function finish(how: 'written' | 'replaced' | 'unchanged', compressedBytes: number, blockCount: number): Promise<PackResult> {
    const result: PackResult = {
      status: 'packed',
      unchanged: how === 'unchanged',
      tarball: out,
      members: plan.members.length,
      uncompressedBytes: plan.size,
      compressedBytes,
      blocks: blockCount,
      removedFiles: 0,
      prunedDirs: 0,
      replaced: how === 'replaced',
    };
    if (opts.removePacked) {
      const removed = await removePacked(image, walk);
      result.removedFiles = removed.removedFiles;
      result.prunedDirs = removed.prunedDirs;
      for (const s of removed.skipped) log?.warn(`${s}: changed after packing, left in the image`);
    }
    return result;
  }
}

/** The tarball must describe the image as it is now, not as it was a minute ago. */
async function checkImageUnchanged(image: string, entries: readonly ImageEntry[]): Promise<void> {
  for (const e of entries) {
    const abs = path.join(image, e.relPath);
    const st = await fs.lstat(abs).catch(() => undefined);
    const same = st && st.ino === e.ino && st.dev === e.dev && (e.kind === 'directory' || (st.mtimeMs === e.mtimeMs && (e.kind !== 'file' || st.size === e.size)));
    if (!same) throw new PackdebugError('E_CHANGED', `${abs}: changed while packing`, { file: abs });
  }
}
