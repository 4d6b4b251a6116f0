/**
 * One binpkg to one debug tarball: the debug subtree of its image, streamed
 * out of the package (never unpacked to disk, the package never written),
 * packed by the same engine as `pack` into
 * `TREE/CATEGORY/PN/PF-BUILD_ID-debug.tar.xz`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { type Binpkg, openBinpkg } from '../binpkg/binpkg.js';
import { collectDebugEntries, type DebugEntries } from '../binpkg/debug-entries.js';
import type { BinpkgLimits } from '../binpkg/limits.js';
import { SpillFile } from '../binpkg/spill.js';
import { PackdebugError, fromSystemError } from '../errors.js';
import { type PackageIdentity, tarballRelativePath, validateIdentity } from '../portage/naming.js';
import { compareDigestSets } from '../tar/digest.js';
import type { PackLogger } from '../util/io.js';
import { type EngineSettings, packEntries, planDigests } from './pack.js';
import { planTar } from '../image/tar-plan.js';
import { knownVerdict, rememberVerdict } from './up-to-date.js';
import { digestTarball } from './verify.js';

/** BUILD_ID used in the name of a binpkg that has none (classic PKGDIR layout); multi-instance ones start at 1. */
export const NO_BUILD_NUMBER = '0';

export interface FromBinpkgOptions {
  /** Output tree (the `.tarball` directory). */
  tree: string;
  settings: EngineSettings;
  /** Directory for the spill file; default $TMPDIR. */
  spillDir?: string;
  /** Caps on decompressor memory, metadata and spilled data (binpkgLimits); default DEFAULT_LIMITS. */
  limits?: BinpkgLimits;
  sourceDateEpoch?: number;
  log?: PackLogger;
  /** Environment for the up-to-date records (PACKDEBUG_CACHE_DIR, see up-to-date.ts); none: no records. */
  env?: NodeJS.ProcessEnv;
  /** Serializes work on one output path (two binpkgs of the same CATEGORY/PF-BUILD_ID). */
  lock?: <T>(key: string, task: () => Promise<T>) => Promise<T>;
}

export interface FromBinpkgResult {
  file: string;
  status: 'packed' | 'skipped';
  /** Why it was skipped: no debug info in the image, or the tarball exists with the same members. */
  reason?: 'no-debug-info' | 'up-to-date';
  /** `CATEGORY/PF-BUILD_ID` from the package's metadata. */
  package: string;
  format: Binpkg['format'];
  tarball: string;
  members: number;
  uncompressedBytes: number;
  compressedBytes: number;
  blocks: number;
  /** Bytes of debug file data held in the temporary spill file. */
  spillBytes: number;
}

export async function tarballFromBinpkg(file: string, opts: FromBinpkgOptions): Promise<FromBinpkgResult> {
  const pkg = await openBinpkg(file, opts.limits);
  const m = pkg.metadata;
  const id: PackageIdentity = {
    category: m.category,
    pn: m.pn,
    pf: m.pf,
    buildNumber: m.buildNumber ?? NO_BUILD_NUMBER,
  };
  try {
    validateIdentity(id);
  } catch (err) {
    throw new PackdebugError('E_FORMAT', `${file}: metadata gives an unusable identity (${(err as Error).message})`, {
      file,
    });
  }
  const tree = path.resolve(opts.tree);
  const out = path.join(tree, tarballRelativePath(id));
  const base = {
    file,
    package: `${id.category}/${id.pf}-${id.buildNumber}`,
    format: pkg.format,
    tarball: out,
    members: 0,
    uncompressedBytes: 0,
    compressedBytes: 0,
    blocks: 0,
    spillBytes: 0,
  };
  const run = () => convert(pkg, out, tree, base, opts);
  return opts.lock ? opts.lock(out, run) : run();
}

async function convert(
  pkg: Binpkg,
  out: string,
  tree: string,
  base: Omit<FromBinpkgResult, 'status'>,
  opts: FromBinpkgOptions,
): Promise<FromBinpkgResult> {
  const existing = await fs.lstat(out).catch(() => undefined);
  if (existing && !existing.isFile())
    throw new PackdebugError('E_UNSAFE', `${out}: exists and is not a regular file`, { file: out });
  const env = opts.env ?? { PACKDEBUG_CACHE_DIR: '' };
  const known = await knownVerdict(pkg.file, out, env);
  if (known === 'up-to-date' && existing)
    return { ...base, status: 'skipped', reason: 'up-to-date', compressedBytes: existing.size };
  if (known === 'no-debug-info' && !existing) return { ...base, status: 'skipped', reason: 'no-debug-info' };
  if (existing) {
    // Digests only: nothing is spilled when the tarball is already there.
    const found = await collectDebugEntries(pkg, { sourceDateEpoch: opts.sourceDateEpoch });
    // beside a tarball: not remembered
    if (!hasContent(found)) return { ...base, status: 'skipped', reason: 'no-debug-info' };
    const plan = planTar(found.entries);
    const hashes = new Map(
      plan.members.flatMap((pm, i) =>
        pm.entry.kind === 'file' ? [[i, found.files.get(pm.entry.relPath)!.sha256] as const] : [],
      ),
    );
    const old = await digestTarball(out).catch((err: PackdebugError) => {
      throw new PackdebugError('E_VERIFY', `${out}: existing tarball cannot be read (${err.message}); left in place`, {
        file: out,
      });
    });
    const diffs = compareDigestSets(old, planDigests(plan, hashes));
    if (diffs.length > 0) {
      throw new PackdebugError(
        'E_VERIFY',
        `${out}: exists with other contents than ${pkg.file} (${diffs[0]}); left in place, nothing written`,
        { file: pkg.file },
      );
    }
    await rememberVerdict('up-to-date', pkg.file, out, env);
    return {
      ...base,
      status: 'skipped',
      reason: 'up-to-date',
      members: plan.members.length,
      uncompressedBytes: plan.size,
      compressedBytes: existing.size,
    };
  }

  const spill = await SpillFile.create(opts.spillDir);
  try {
    const found = await collectDebugEntries(pkg, { spill, sourceDateEpoch: opts.sourceDateEpoch });
    if (!hasContent(found)) {
      await rememberVerdict('no-debug-info', pkg.file, out, env);
      return { ...base, status: 'skipped', reason: 'no-debug-info' };
    }
    for (const [rel, f] of found.files) spill.files.set(rel, f);
    await fs.mkdir(tree, { recursive: true }).catch((err) => {
      throw fromSystemError(err, tree, 'creating the output tree');
    });
    const r = await packEntries(
      {
        entries: found.entries,
        data: spill,
        out,
        root: tree,
        checkUnchanged: () => checkBinpkgUnchanged(pkg),
        log: opts.log,
      },
      opts.settings,
    );
    await rememberVerdict('up-to-date', pkg.file, out, env);
    return {
      ...base,
      status: 'packed',
      members: r.plan.members.length,
      uncompressedBytes: r.plan.size,
      compressedBytes: r.compressedBytes,
      blocks: r.blocks,
      spillBytes: spill.size,
    };
  } finally {
    await spill.close();
  }
}

function hasContent(found: DebugEntries): boolean {
  return found.entries.some((e) => e.kind !== 'directory');
}

/** A binpkg rewritten while it was read (a concurrent emerge --buildpkg) must not give a tarball. */
async function checkBinpkgUnchanged(pkg: Binpkg): Promise<void> {
  const st = await fs.stat(pkg.file).catch(() => undefined);
  if (!st || st.size !== pkg.size || st.mtimeMs !== pkg.mtimeMs) {
    throw new PackdebugError('E_CHANGED', `${pkg.file}: changed while it was converted; run again`, { file: pkg.file });
  }
}
