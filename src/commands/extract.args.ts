import type { Argv } from 'yargs';
import type { BuildIdKind } from '../tarball/elf-members.js';
import { DEFAULT_TREE } from './options.js';

export interface ExtractArgs {
  /** A tarball or a tree of them; default `${EPREFIX}/usr/lib/debug/.tarball`. */
  source?: string;
  buildId?: string;
  kind?: BuildIdKind;
  path?: string;
  /** Output file; stdout when absent or `-`. */
  output?: string;
  /** Report what was done on stderr (member, tarball, bytes decoded). */
  verbose?: boolean;
}

export const extractCommand = {
  command: 'extract [source]',
  describe: 'write one member, by build-id or by path, decoding only the xz Blocks that hold it',
  builder: (y: Argv) =>
    y
      .positional('source', { type: 'string', describe: `a tarball, or a tree of them (default: ${DEFAULT_TREE})` })
      .options({
        'build-id': { type: 'string', describe: 'GNU build-id (hex) of the wanted ELF file' },
        kind: {
          choices: ['debuginfo', 'executable'],
          default: 'debuginfo',
          describe: 'with --build-id: which file debuginfod would serve',
        },
        path: { type: 'string', describe: 'member name, e.g. /usr/src/debug/CAT/PF/file.c' },
        output: { alias: 'o', type: 'string', describe: 'output file (written atomically); default stdout' },
        verbose: {
          alias: 'v',
          type: 'boolean',
          default: false,
          describe: 'say where the member came from and how much was decoded',
        },
      } as const)
      .conflicts('build-id', 'path')
      .check((a) =>
        a['build-id'] !== undefined || a.path !== undefined ? true : 'give --build-id ID or --path MEMBER',
      )
      .epilog('Exit status: 0 written, 1 not found or failed, 2 usage or input error.'),
};
