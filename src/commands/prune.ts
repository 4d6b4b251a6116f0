import path from 'node:path';
import { defaultTree } from '../portage/environment.js';
import { DEFAULT_KEEP, pruneTree } from '../prune/prune.js';
import { printable } from '../util/escape.js';
import { formatSize } from '../util/size.js';
import type { CommandIO } from '../util/io.js';
import type { PruneArgs } from './prune.args.js';

/** Version of the --json output (docs/audit.md). */
export const PRUNE_SCHEMA = 'packdebug-prune/1';

export async function runPrune(args: PruneArgs, io: CommandIO): Promise<number> {
  const tree = path.resolve(args.tree ?? defaultTree(io.env));
  const verb = args.dryRun ? 'would delete' : 'deleted';
  const result = await pruneTree(
    { tree, keep: args.keep, pkgdir: args.pkgdir, vdb: args.vdb, olderThanDays: args.olderThan, dryRun: args.dryRun },
    args.json
      ? {}
      : {
          deleted: (c, reclaimed) => {
            const shared = reclaimed === c.size ? '' : ', another hardlink to it remains';
            io.stdout.write(`${verb} ${printable(c.rel)} (${c.size} bytes${shared})\n`);
          },
          removedDir: (d) =>
            io.stdout.write(
              `${args.dryRun ? 'would remove' : 'removed'} empty directory ${printable(path.relative(tree, d))}/\n`,
            ),
          skipped: (f, reason) => io.stderr.write(`packdebug: ${printable(`${f}: ${reason}`)}\n`),
        },
  );
  if (args.json) {
    io.stdout.write(`${JSON.stringify({ schema: PRUNE_SCHEMA, ...result })}\n`);
  } else {
    const k = result.kept;
    io.stdout.write(
      `${result.deleted.length} tarball${result.deleted.length === 1 ? '' : 's'} ` +
        `${args.dryRun ? 'to delete' : 'deleted'}, ${formatSize(result.reclaimedBytes)} ` +
        `(${result.reclaimedBytes} bytes) ${args.dryRun ? 'to reclaim' : 'reclaimed'}; ` +
        `kept ${k.newest} newest (--keep ${args.keep ?? DEFAULT_KEEP}), ${k.binpkg} with a binpkg, ` +
        `${k.installed} installed, ${k.recent} recent\n`,
    );
  }
  return result.failed.length > 0 ? 1 : 0;
}
