import type { Argv } from 'yargs';
import type { Severity } from '../audit/findings.js';
import { jsonOption, withTree } from './options.js';

export interface AuditArgs {
  /** Default `${EPREFIX}/usr/lib/debug/.tarball`. */
  tree?: string;
  pkgdir?: string;
  vdb?: string;
  deep?: boolean;
  json?: boolean;
  /** Findings shown: of this severity or worse (the summary counts all). Default info: all. */
  severity?: Severity;
}

export const auditCommand = {
  command: 'audit [tree]',
  describe: 'check a tarball tree: layout, xz containers, unsafe members, build-ids, binpkgs and installed builds',
  builder: (y: Argv) =>
    withTree(y)
      .options({
        pkgdir: {
          type: 'string',
          describe: 'a binpkg directory (PKGDIR): report tarballs without binpkg and binpkgs without tarball',
        },
        vdb: {
          type: 'string',
          describe: 'the installed-package database (e.g. /var/db/pkg): tell which tarballs belong to installed builds',
        },
        deep: {
          type: 'boolean',
          default: false,
          describe: 'decode every Block (Checks verified) and parse every tar stream to its end',
        },
        severity: {
          choices: ['error', 'warning', 'info'],
          default: 'info',
          describe: 'show findings of this severity or worse (the summary counts all)',
        },
        ...jsonOption('print {schema, tree, deep, tarballs[], findings[], summary} as JSON (docs/audit.md)'),
      } as const)
      .epilog(
        'Shallow by default: reads footers, Indexes and tar headers only. Finding codes: docs/audit.md.\n' +
          'Exit status: 0 no error finding, 1 error findings, 2 usage or I/O error.',
      ),
};
