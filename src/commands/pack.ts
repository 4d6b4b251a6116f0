import type { PackResult } from '../pack/options.js';
import { describePack } from '../pack/describe.js';
import { packImage } from '../pack/pack.js';
import { sourceDateEpoch } from '../portage/environment.js';
import { printable } from '../util/escape.js';
import { optionalSize } from '../util/size.js';
import type { CommandIO } from '../util/io.js';
import type { PackArgs } from './pack.args.js';
import { progressLine } from './progress.js';

export async function runPack(args: PackArgs, io: CommandIO): Promise<number> {
  const progress = progressLine(io);
  let result: PackResult;
  try {
    result = await packImage({
      image: args.image,
      category: args.category,
      pn: args.pn,
      pf: args.pf,
      // yargs' camelCase key of --build-id (Portage's BUILD_ID) is the library's buildNumber.
      buildNumber: String(args.buildId),
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
