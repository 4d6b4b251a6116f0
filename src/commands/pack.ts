import type { PackResult } from '../pack/options.js';
import { packImage } from '../pack/pack.js';
import { printable } from '../util/escape.js';
import { optionalSize } from '../util/size.js';
import type { CommandIO } from './io.js';
import { progressLine } from './progress.js';

export interface PackArgs {
  image: string;
  category: string;
  pn: string;
  pf: string;
  buildId: string;
  out?: string;
  preset?: string;
  threads?: number;
  /** A size such as `2MiB`. */
  blockSize?: string;
  /** A size; see PackOptions.largeBlockSize. */
  largeBlockSize?: string;
  /** A size; see PackOptions.sourceBlockSize. */
  sourceBlockSize?: string;
  encoder?: 'auto' | 'xz' | 'lzma-native';
  removePacked?: boolean;
  json?: boolean;
}

export function sourceDateEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const v = env['SOURCE_DATE_EPOCH'];
  if (v === undefined || v === '') return undefined;
  if (!/^[0-9]+$/.test(v)) throw new Error(`SOURCE_DATE_EPOCH=${v}: not a number of seconds`);
  return Number(v);
}

export function describePack(r: PackResult): string {
  if (r.status === 'empty') return 'no usr/lib/debug or usr/src/debug content in the image: nothing to pack';
  const ratio = r.uncompressedBytes > 0 ? ((r.compressedBytes / r.uncompressedBytes) * 100).toFixed(1) : '0';
  const lines = [
    `${r.tarball}: ${r.members} members, ${r.uncompressedBytes} bytes -> ${r.compressedBytes} bytes (${ratio}%), ${r.blocks} xz Blocks, verified${r.replaced ? ', replaced the existing tarball (same contents)' : ''}`,
  ];
  if (r.removedFiles > 0 || r.prunedDirs > 0)
    lines.push(`removed ${r.removedFiles} packed files and ${r.prunedDirs} emptied directories from the image`);
  return lines.map((l) => printable(l)).join('\n');
}

export async function runPack(args: PackArgs, io: CommandIO): Promise<number> {
  const progress = progressLine(io);
  let result: PackResult;
  try {
    result = await packImage({
      image: args.image,
      category: args.category,
      pn: args.pn,
      pf: args.pf,
      buildId: String(args.buildId),
      out: args.out,
      preset: args.preset,
      threads: args.threads,
      blockSize: optionalSize(args.blockSize, '--block-size'),
      largeBlockSize: optionalSize(args.largeBlockSize, '--large-block-size'),
      sourceBlockSize: optionalSize(args.sourceBlockSize, '--source-block-size'),
      encoder: args.encoder,
      removePacked: args.removePacked,
      sourceDateEpoch: sourceDateEpoch(io.env),
      log: {
        info: (m) => io.stderr.write(`${printable(m)}\n`),
        warn: (m) => io.stderr.write(`packdebug: warning: ${printable(m)}\n`),
        progress: (m) => progress.update(printable(m)),
      },
    });
  } finally {
    progress.clear();
  }
  io.stdout.write(args.json ? `${JSON.stringify(result)}\n` : `${describePack(result)}\n`);
  return 0;
}
