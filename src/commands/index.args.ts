import type { Argv } from 'yargs';
import { jsonOption, withTree } from './options.js';

export interface IndexArgs {
  /** Default `${EPREFIX}/usr/lib/debug/.tarball`. */
  tree?: string;
  only?: string[];
  rebuild?: boolean;
  merge?: string[];
  fragment?: string;
  fragmentOnly?: boolean;
  json?: boolean;
}

export const indexCommand = {
  command: 'index [tree]',
  describe: 'write or update the build-id index that lets any static HTTP server or mirror serve the tree',
  builder: (y: Argv) =>
    withTree(y)
      .options({
        only: {
          type: 'string',
          array: true,
          describe: 'look only at these CATEGORY/PN directories (after one merge); the rest keep their entries',
        },
        rebuild: { type: 'boolean', default: false, describe: 'forget the last run: read every tarball again' },
        merge: {
          type: 'string',
          array: true,
          describe: 'merge index fragments (written with --fragment elsewhere) without reading their tarballs',
        },
        fragment: { type: 'string', describe: 'also write what this run read to FILE, a fragment for --merge' },
        'fragment-only': {
          type: 'boolean',
          default: false,
          describe: "write only the fragment, not the tree's index (a CI job over its part of a tree)",
        },
        ...jsonOption(
          'print {tree, index, generation, tarballs, buildIds, entries, read, unchanged, merged, removed, ' +
            'shardsWritten, damaged[]} as JSON',
        ),
      } as const)
      .epilog(
        'The index is written to TREE/.packdebug-index (format: docs/index-format.md). A mirror syncs the ' +
          'tarballs first and the index after them.\nExit status: 0 indexed (damaged tarballs are skipped ' +
          'with a warning), 1 failed, 2 usage or input error.',
      ),
};
