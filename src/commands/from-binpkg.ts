import { availableParallelism } from 'node:os';
import fs from 'node:fs/promises';
import path from 'node:path';
import { binpkgLimits } from '../binpkg/limits.js';
import { listPkgdir } from '../binpkg/pkgdir.js';
import type { IndexReport } from '../mirror/update.js';
import { PackdebugError } from '../errors.js';
import { defaultTree, sourceDateEpoch } from '../portage/environment.js';
import { type FromBinpkgResult, tarballFromBinpkg } from '../pack/from-binpkg.js';
import { engineSettings } from '../pack/pack.js';
import { printable, printableLine } from '../util/escape.js';
import { limiter, semaphore } from '../util/limit.js';
import { optionalSize } from '../util/size.js';
import type { CommandIO } from '../util/io.js';
import type { FromBinpkgArgs } from './from-binpkg.args.js';
import { progressLine } from './progress.js';

export type FromBinpkgItem = FromBinpkgResult | { file: string; status: 'failed'; error: string; code: string };

export interface FromBinpkgSummary {
  tree: string;
  packed: number;
  skipped: number;
  failed: number;
  /** Notices about the PKGDIR: symlinks not followed, Packages entries without a file. */
  notices: string[];
  results: FromBinpkgItem[];
  /** With --index or --index-fragment: what the index update did. */
  index?: IndexReport;
}

export async function runFromBinpkg(args: FromBinpkgArgs, io: CommandIO): Promise<number> {
  if (args.targets.length === 0) throw new PackdebugError('E_USAGE', 'name a PKGDIR or binpkg files');
  const cores = availableParallelism();
  const jobs = args.jobs ?? cores;
  if (!Number.isInteger(jobs) || jobs < 1) throw new PackdebugError('E_USAGE', `invalid --jobs '${args.jobs}'`);
  const settings = await engineSettings({
    preset: args.preset,
    threads: args.threads ?? cores,
    blockSize: optionalSize(args.blockSize, '--block-size'),
    largeBlockSize: optionalSize(args.largeBlockSize, '--large-block-size'),
    sourceBlockSize: optionalSize(args.sourceBlockSize, '--source-block-size'),
    encoder: args.encoder,
  });
  // A large package may use every core while small ones wait for slots: no idle tail, no oversubscription.
  const slots = Math.max(cores, settings.threads);
  settings.sharedSlots = limiter(slots);
  // Blocks in memory over all binpkgs together: what one pack with that many threads holds.
  settings.sharedBudget = semaphore(2 * slots + 1);
  const limits = binpkgLimits(io.env, args);
  const tree = path.resolve(args.out ?? defaultTree(io.env));
  const epoch = sourceDateEpoch(io.env);

  const files: string[] = [];
  const notices: string[] = [];
  for (const t of args.targets) {
    const st = await fs.stat(t).catch(() => undefined);
    if (!st) throw new PackdebugError('E_INPUT', `${t}: no such PKGDIR or binpkg`, { file: t });
    if (st.isDirectory()) {
      const listing = await listPkgdir(t);
      files.push(...listing.binpkgs.map((b) => b.path));
      for (const s of listing.skipped) notices.push(`${s.path}: ${s.reason}`);
      for (const m of listing.missing)
        notices.push(
          `${path.join(listing.pkgdir, 'Packages')}: ` +
            `${m.entry.cpv}${m.entry.buildNumber ? `-${m.entry.buildNumber}` : ''}: ${m.reason}`,
        );
    } else {
      files.push(path.resolve(t));
    }
  }
  if (files.length === 0) notices.push(`no binary packages (*.gpkg.tar, *.xpak, *.tbz2) in ${args.targets.join(', ')}`);
  for (const n of notices) io.stderr.write(`packdebug: notice: ${printable(n)}\n`);

  const progress = progressLine(io);
  const limit = limiter(jobs);
  const locks = new Map<string, Promise<unknown>>();
  const lock = <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const prev = locks.get(key) ?? Promise.resolve();
    const next = prev.then(task, task);
    locks.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  };
  let done = 0;
  // Largest binpkgs first (longest-processing-time order): a big package started last would
  // leave the other cores idle at the end. Results stay in the order of `files`.
  const sizes = await Promise.all(
    files.map((f) =>
      fs.stat(f).then(
        (st) => st.size,
        () => 0,
      ),
    ),
  );
  const schedule = files.map((_, i) => i).sort((a, b) => sizes[b]! - sizes[a]! || a - b);
  const results: FromBinpkgItem[] = new Array<FromBinpkgItem>(files.length);
  await Promise.all(
    schedule.map((i) =>
      limit(async () => {
        const file = files[i]!;
        let item: FromBinpkgItem;
        try {
          item = await tarballFromBinpkg(file, {
            tree,
            settings,
            spillDir: args.tmpdir,
            limits,
            sourceDateEpoch: epoch,
            lock,
            env: io.env,
          });
        } catch (err) {
          const e =
            err instanceof PackdebugError
              ? err
              : new PackdebugError('E_IO', `${file}: ${(err as Error)?.message ?? String(err)}`, { file });
          item = {
            file,
            status: 'failed',
            error: e.message.includes(file) ? e.message : `${file}: ${e.message}`,
            code: e.code,
          };
        }
        results[i] = item;
        done++;
        progress.clear();
        if (item.status === 'failed') io.stderr.write(`packdebug: ${printableLine(item.error)}\n`);
        else if (!args.json) io.stdout.write(`${printable(describe(item))}\n`);
        progress.update(`from-binpkg: ${done}/${files.length} binpkgs`);
      }),
    ),
  );
  progress.clear();
  const count = (s: string) => results.filter((r) => r.status === s).length;
  const summary: FromBinpkgSummary = {
    tree,
    packed: count('packed'),
    skipped: count('skipped'),
    failed: count('failed'),
    notices,
    results,
  };
  if (args.index || args.indexFragment) {
    // The CATEGORY/PN directories of the tarballs written or kept: only those are looked at.
    const only = [
      ...new Set(
        results
          .filter((r) => r.status !== 'failed')
          .map((r) => path.relative(tree, path.dirname((r as { tarball: string }).tarball)))
          .filter((d) => d.split('/').length === 2 && !d.startsWith('..')),
      ),
    ];
    if (only.length > 0) {
      const { updateIndex } = await import('../mirror/update.js');
      summary.index = await updateIndex({
        tree,
        only,
        fragment: args.indexFragment,
        fragmentOnly: !args.index,
        env: io.env,
        log: { warn: (m) => io.stderr.write(`packdebug: warning: ${printableLine(m)}\n`) },
      });
    }
  }
  if (args.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    const noDebug = results.filter((r) => r.status === 'skipped' && r.reason === 'no-debug-info').length;
    io.stdout.write(
      `${summary.packed} packed, ${summary.skipped} skipped ` +
        `(${noDebug} without debug info, ${summary.skipped - noDebug} up to date), ${summary.failed} failed\n`,
    );
  }
  if (summary.index && !args.json) {
    const x = summary.index;
    io.stdout.write(`${printable(`${x.index}: ${x.tarballs} tarballs, ${x.buildIds} build-ids indexed`)}\n`);
  }
  return summary.failed > 0 ? 1 : 0;
}

function describe(r: FromBinpkgResult): string {
  if (r.status === 'skipped') {
    return r.reason === 'no-debug-info'
      ? `${r.file}: ${r.package}: skipped, no debug info in the image`
      : `${r.file}: ${r.package}: skipped, ${r.tarball} exists with the same members`;
  }
  return (
    `${r.file}: ${r.package}: packed ${r.tarball}: ${r.members} members, ` +
    `${r.uncompressedBytes} -> ${r.compressedBytes} bytes, ${r.blocks} xz Blocks, verified`
  );
}
