import { PackdebugError } from '../errors.js';
import { engineSettings } from '../pack/pack.js';
import { repackTarball, type RepackResult } from '../tarball/repack.js';
import { tarballsFromTargets } from '../tarball/tree.js';
import { printable, printableLine } from '../util/escape.js';
import { optionalSize } from '../util/size.js';
import type { CommandIO } from '../util/io.js';
import type { RepackArgs } from './repack.args.js';
import { progressLine } from './progress.js';

export async function runRepack(args: RepackArgs, io: CommandIO): Promise<number> {
  const symlinks: string[] = [];
  const files = await tarballsFromTargets(args.targets, io.env, symlinks);
  const blockSize = optionalSize(args.blockSize, '--block-size');
  const sourceBlockSize = optionalSize(args.sourceBlockSize, '--source-block-size');
  // A bad option is a usage error (exit 2) once, not a failure of every target.
  await engineSettings({
    blockSize,
    sourceBlockSize,
    preset: args.preset,
    threads: args.threads,
    encoder: args.encoder,
  });
  const progress = progressLine(io);
  const results: (
    RepackResult | { tarball: string; status: 'failed'; error: string } | { tarball: string; status: 'symlink' }
  )[] = [];
  // Inside a tree symlinks are never followed; say so rather than pass over them in silence.
  for (const link of symlinks) {
    results.push({ tarball: link, status: 'symlink' });
    if (!args.json)
      io.stdout.write(`${printable(link)}: skipped, a symlink (not followed; repack the file it points to)\n`);
  }
  for (const file of files) {
    try {
      const r = await repackTarball(file, {
        blockSize,
        sourceBlockSize,
        preset: args.preset,
        threads: args.threads,
        encoder: args.encoder,
        dryRun: args.dryRun,
        progress: progress.update,
      });
      progress.clear();
      results.push(r);
      if (!args.json) io.stdout.write(`${printable(describe(r))}\n`);
    } catch (err) {
      progress.clear();
      if (!(err instanceof PackdebugError)) throw err;
      results.push({ tarball: file, status: 'failed', error: err.message });
      io.stderr.write(`packdebug: ${printableLine(err.message)}\n`);
    }
  }
  if (args.json) io.stdout.write(`${JSON.stringify(results)}\n`);
  else if (results.length > 1) {
    const count = (s: string) => results.filter((r) => r.status === s).length;
    const links =
      count('symlink') > 0 ? `, ${count('symlink')} symlink${count('symlink') === 1 ? '' : 's'} not followed` : '';
    io.stdout.write(
      `${count('repacked')} repacked, ${count('would-repack')} to repack, ` +
        `${count('skipped')} already in the layout, ${count('failed')} failed${links}\n`,
    );
  }
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

function describe(r: RepackResult): string {
  switch (r.status) {
    case 'skipped':
      return `${r.tarball}: skipped, ${r.reason}`;
    case 'would-repack':
      return (
        `${r.tarball}: would repack ` +
        `(${r.blocksBefore} xz Block${r.blocksBefore === 1 ? '' : 's'}, ${r.bytesBefore} bytes)`
      );
    default:
      return (
        `${r.tarball}: repacked, ${r.blocksBefore} -> ${r.blocksAfter} xz Blocks, ` +
        `${r.bytesBefore} -> ${r.bytesAfter} bytes (${((r.bytesAfter! / r.bytesBefore) * 100).toFixed(1)}%), ` +
        'tar stream verified identical'
      );
  }
}
