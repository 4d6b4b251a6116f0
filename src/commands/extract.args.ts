import type { Argv } from 'yargs';
import type { BuildIdKind } from '../tarball/elf-members.js';
import { DEFAULT_TREE, httpFlagOptions } from './options.js';

export interface ExtractArgs {
  /**
   * Tarballs or trees, local or URLs (http, https, file); default
   * `${EPREFIX}/usr/lib/debug/.tarball`. Several URLs are asked at once.
   */
  source?: string | string[];
  buildId?: string;
  kind?: BuildIdKind;
  path?: string;
  /** Output file; stdout when absent or `-`. */
  output?: string;
  /** Report what was done on stderr (the xz backends, member, tarball, bytes decoded). */
  verbose?: boolean;
  /** For URLs: seconds one HTTP request may take, and retries of a failing one. */
  timeout?: string;
  retries?: string;
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
  ...httpFlagOptions('with a URL: '),
  verbose: {
    alias: 'v',
    type: 'boolean',
    default: false,
    describe: 'say which xz backends decode, where the member came from and how much was decoded',
  },
} as const;

/** What is wrong with a parsed extract line as a whole (one message), if anything. */
export function extractArgsProblem(a: { buildId?: unknown; path?: unknown }): string | undefined {
  if (a.buildId === undefined && a.path === undefined) return 'give --build-id ID or --path MEMBER';
  return undefined;
}

export const extractCommand = {
  command: 'extract [source..]',
  describe: 'write one member, by build-id or by path, decoding only the xz Blocks that hold it',
  builder: (y: Argv) =>
    y
      .positional('source', {
        type: 'string',
        describe:
          `a tarball or a tree of them (default: ${DEFAULT_TREE}); or http(s):// or file:// URLs of trees ` +
          '(read through their build-id index) or of tarballs, asked at once',
      })
      .options(extractOptions)
      .check((a) => extractArgsProblem(a) ?? true)
      .epilog(
        'With both --build-id and --path: the source file PATH of the tarball that holds the build-id (what ' +
          "debuginfod's /buildid/ID/source/PATH serves).\nExit status: 0 written, 1 not found or failed " +
          '(HTTP 404/410: not found; 401/403: credentials needed; network errors, 5xx and 429 after retries), ' +
          '2 usage or input error.',
      ),
};
