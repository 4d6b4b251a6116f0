import type { PackResult } from '../pack/options.js';
import { describePack } from '../pack/describe.js';
import { packImage } from '../pack/pack.js';
import { optionalSize } from '../util/size.js';
import type { CommandIO } from './io.js';
import type { PackArgs } from './pack.args.js';
import { progressLine } from './progress.js';

export function sourceDateEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const v = env['SOURCE_DATE_EPOCH'];
  if (v === undefined || v === '') return undefined;
  if (!/^[0-9]+$/.test(v)) throw new Error(`SOURCE_DATE_EPOCH=${v}: not a number of seconds`);
  return Number(v);
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
        info: (m) => io.stderr.write(`${m}\n`),
        warn: (m) => io.stderr.write(`packdebug: warning: ${m}\n`),
        progress: (m) => progress.update(m),
      },
    });
  } finally {
    progress.clear();
  }
  io.stdout.write(args.json ? `${JSON.stringify(result)}\n` : `${describePack(result)}\n`);
  return 0;
}
