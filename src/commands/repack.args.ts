import type { Argv } from 'yargs';
import { blockSizeOptions, encoderOption, jsonOption, presetOption, threadsOption, withTargets } from './options.js';

export interface RepackArgs {
  /** Tarballs, or one tree; default `${EPREFIX}/usr/lib/debug/.tarball`. */
  targets: string[];
  dryRun?: boolean;
  /** Sizes such as `2MiB`; see PackOptions. */
  blockSize?: string;
  sourceBlockSize?: string;
  preset?: string;
  threads?: number;
  encoder?: 'auto' | 'xz' | 'lzma-native';
  json?: boolean;
}

export const repackCommand = {
  command: 'repack [targets..]',
  describe:
    "rewrite tarballs that are not block-seekable (Portage's single-Block ones) into packdebug's layout; " +
    'the tar stream stays byte-identical',
  builder: (y: Argv) =>
    withTargets(y, 'tarballs, or a tree of them')
      .options({
        'dry-run': { alias: 'n', type: 'boolean', default: false, describe: 'only say what would be repacked' },
        ...blockSizeOptions,
        ...presetOption,
        ...threadsOption(),
        ...encoderOption,
        ...jsonOption('print the results as a JSON array'),
      } as const)
      .epilog(
        'Exit status: 0 all repacked or skipped, 1 some failed (those are left as they were), 2 usage or input error.',
      ),
};
