import path from 'node:path';
import { PackdebugError } from '../errors.js';
import { updateIndex } from '../mirror/update.js';
import { defaultTree } from '../portage/environment.js';
import { printable, printableLine } from '../util/escape.js';
import type { CommandIO } from '../util/io.js';
import type { IndexArgs } from './index.args.js';
import { progressLine } from './progress.js';

export async function runIndex(args: IndexArgs, io: CommandIO): Promise<number> {
  if (args.fragmentOnly && !args.fragment) throw new PackdebugError('E_USAGE', '--fragment-only needs --fragment FILE');
  const tree = path.resolve(args.tree ?? defaultTree(io.env));
  const progress = progressLine(io);
  const report = await updateIndex({
    tree,
    only: args.only,
    rebuild: args.rebuild,
    merge: args.merge,
    fragment: args.fragment,
    fragmentOnly: args.fragmentOnly,
    env: io.env,
    log: {
      warn: (m) => {
        progress.clear();
        io.stderr.write(`packdebug: warning: ${printableLine(m)}\n`);
      },
      progress: (done, total) => progress.update(`index: read ${done}/${total} tarballs`),
    },
  });
  progress.clear();
  if (args.json) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  const damaged = report.damaged.length ? `; ${report.damaged.length} damaged (skipped)` : '';
  io.stdout.write(
    `${printable(
      args.fragmentOnly
        ? `${report.index}: fragment of ${report.tarballs} tarballs, ${report.buildIds} build-ids${damaged}`
        : `${report.index}: ${report.tarballs} tarballs, ${report.buildIds} build-ids ` +
            `(read ${report.read}, unchanged ${report.unchanged}, merged ${report.merged}, ` +
            `removed ${report.removed}; ` +
            `${report.shardsWritten} shards written)${damaged}`,
    )}\n`,
  );
  return 0;
}
