import type { Argv } from 'yargs';
import { httpFlagOptions, jsonOption } from './options.js';

export interface CoreArgs {
  /** Core files (plain or compressed by systemd-coredump), executables or shared libraries. */
  files: string[];
  /** Trees (directories) and mirrors of trees (URLs), read through their build-id index. */
  source?: string[];
  /** debuginfod servers; each value may hold several URLs separated by spaces (as DEBUGINFOD_URLS does). */
  server?: string[];
  json?: boolean;
  /** Write debug info, executables and sources for gdb into this directory. */
  fetch?: string;
  /** Keep the indexes of local trees that have no current one here (default: a temporary directory). */
  cache?: string;
  timeout?: string;
  retries?: string;
}

/** core's options: yargs' builder and the CLI's light path for plain core lines both read this table. */
export const coreOptions = {
  source: {
    type: 'string',
    array: true,
    describe: 'a tarball tree or an http(s):// or file:// URL of a mirror, read through its build-id index',
  },
  server: {
    type: 'string',
    array: true,
    describe: 'a debuginfod server URL (several, space-separated, as in DEBUGINFOD_URLS)',
  },
  ...jsonOption('print one JSON object per input on stdout'),
  fetch: {
    type: 'string',
    describe:
      'write the debug info (and executables, sources) found into this directory, verified, and print the ' +
      'gdb command line that uses them',
  },
  cache: {
    type: 'string',
    describe: 'keep the build-id index of a tree that has no current one here (default: a temporary one)',
  },
  ...httpFlagOptions(),
} as const;

/** A plain core line needs at least one file (yargs says so otherwise). */
export function coreArgsProblem(a: { files?: unknown }): string | undefined {
  return Array.isArray(a.files) && a.files.length > 0 ? undefined : 'give at least one core file';
}

export const coreCommand = {
  command: 'core <files..>',
  describe: 'which builds a crash loaded, whether trees and servers have their debug info, and fetch it for gdb',
  builder: (y: Argv) =>
    y
      .positional('files', {
        type: 'string',
        array: true,
        demandOption: true,
        describe:
          'ELF core files (also .zst/.xz/.lz4 ones from systemd-coredump), or executables and shared libraries ' +
          '(then: the file and the DT_NEEDED libraries it loads on this system)',
      })
      .options(coreOptions)
      .epilog(
        'Exit status: 0 every module with a build-id has debug info in some --source or --server (the vDSO ' +
          'excepted), or none was given; 1 some are missing; 2 usage or input error.',
      ),
};
