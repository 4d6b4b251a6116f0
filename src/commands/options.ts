/**
 * Options that several commands share, each defined once, for yargs'
 * `.options({...})`. Like the `*.args.ts` modules, this imports nothing at
 * run time: the CLI loads it before it knows which command runs.
 */
import type { Argv } from 'yargs';

/** Where commands that take a tree look by default. */
export const DEFAULT_TREE = '${EPREFIX}/usr/lib/debug/.tarball';

export const presetOption = {
  preset: { type: 'string', default: '6', describe: 'xz preset 0-9 or 0e-9e' },
} as const;

export const threadsOption = (describe = 'Blocks compressed at once (default: all cores)') =>
  ({ threads: { alias: 'T', type: 'number', describe } }) as const;

export const encoderOption = {
  encoder: {
    choices: ['auto', 'xz', 'lzma-native'],
    default: 'auto',
    describe:
      'who compresses Blocks: the system xz(1) (faster) or lzma-native (an optional addon; xz(1) where it ' +
      'cannot load); same output',
  },
} as const;

/** --block-size and --source-block-size (repack keeps each member's Blocks as they fall: no --large-block-size). */
export const blockSizeOptions = {
  'block-size': {
    type: 'string',
    describe: 'target uncompressed size of a Block of small members, default 1984KiB (see docs/layout.md)',
  },
  'source-block-size': {
    type: 'string',
    describe:
      'Block size for usr/src/debug, which debuggers fetch one file at a time ' +
      '(default: the smaller of --block-size and 1984KiB)',
  },
} as const;

export const largeBlockSizeOption = {
  'large-block-size': {
    type: 'string',
    describe:
      'members of at least --block-size get Blocks of their own, at most this large ' +
      '(default: twice --block-size, at most the preset dictionary, so 3968KiB at the defaults)',
  },
} as const;

/** What --json prints differs per command: `describe` says. */
export const jsonOption = (describe: string) => ({ json: { type: 'boolean', default: false, describe } }) as const;

/**
 * --timeout and --retries of the commands that fetch over HTTP (read by
 * httpOptionsFromFlags). Strings, parsed by the command: number options
 * would keep plain lines off the CLI's light path. `when` names the
 * requests they apply to.
 */
export const httpFlagOptions = (when = '') =>
  ({
    timeout: { type: 'string', describe: `${when}seconds one HTTP request may take (default 30)` },
    retries: {
      type: 'string',
      describe: `${when}retries of a request that failed in transit (network, 5xx, 429; default 3)`,
    },
  }) as const;

/** How many things at once: what is counted differs per command. */
export const jobsOption = (describe: string) => ({ jobs: { alias: 'j', type: 'number', describe } }) as const;

/** Positional tarballs or trees, several or none (then the default tree). */
export const withTargets = <T>(y: Argv<T>, describe: string) =>
  y.positional('targets', {
    type: 'string',
    array: true,
    default: [] as string[],
    defaultDescription: DEFAULT_TREE,
    describe,
  });

/** The positional tree of audit and prune. */
export const withTree = <T>(y: Argv<T>) =>
  y.positional('tree', { type: 'string', describe: `the tarball tree (default: ${DEFAULT_TREE})` });
