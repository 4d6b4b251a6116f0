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

/** extract's options: yargs' builder and the CLI's light path for plain extract lines both read this table. */
export const extractOptions = {
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
} as const;

/** What is wrong with a parsed extract line as a whole (one message), if anything. */
export function extractArgsProblem(a: { buildId?: unknown; path?: unknown }): string | undefined {
  if (a.buildId !== undefined && a.path !== undefined) return 'give --build-id ID or --path MEMBER, not both';
  if (a.buildId === undefined && a.path === undefined) return 'give --build-id ID or --path MEMBER';
  return undefined;
}

export const extractCommand = {
  command: 'extract [source]',
  describe: 'write one member, by build-id or by path, decoding only the xz Blocks that hold it',
  builder: (y: Argv) =>
    y
      .positional('source', { type: 'string', describe: `a tarball, or a tree of them (default: ${DEFAULT_TREE})` })
      .options(extractOptions)
      .check((a) => extractArgsProblem(a) ?? true)
      .epilog('Exit status: 0 written, 1 not found or failed, 2 usage or input error.'),
};
