import type { Argv } from 'yargs';
import { jsonOption, withTree } from './options.js';

export interface PruneArgs {
  /** Default `${EPREFIX}/usr/lib/debug/.tarball`. */
  tree?: string;
  keep?: number;
  pkgdir?: string;
  vdb?: string;
  olderThan?: number;
  dryRun?: boolean;
  json?: boolean;
}

export const pruneCommand = {
  command: 'prune [tree]',
  describe: 'delete old tarballs: per CATEGORY/PN keep the newest N builds and those with a binpkg or installed',
  builder: (y: Argv) =>
    withTree(y)
      .options({
        keep: {
          type: 'number',
          default: 3,
          describe: 'newest builds (highest version, then BUILD_ID) kept per CATEGORY/PN',
        },
        pkgdir: { type: 'string', describe: 'also keep every tarball whose binpkg is in this PKGDIR' },
        vdb: { type: 'string', describe: 'also keep every tarball of an installed build (e.g. /var/db/pkg)' },
        'older-than': { type: 'number', describe: 'only delete tarballs last modified at least this many days ago' },
        'dry-run': { alias: 'n', type: 'boolean', default: false, describe: 'only say what would be deleted' },
        ...jsonOption(
          'print {schema, tree, dryRun, keep, deleted[], removedDirs[], ' +
            'skipped[], failed[], kept, reclaimedBytes} as JSON',
        ),
      } as const)
      .epilog(
        'Deletes only regular files named CATEGORY/PN/PF-BUILD_ID-debug.tar.xz, re-checked right before unlink; ' +
          'removes directories it emptied. Safe from cron beside debuginfod.\n' +
          'Exit status: 0 done, 1 some deletions failed, 2 usage or input error (nothing deleted).',
      ),
};
