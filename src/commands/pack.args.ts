import type { Argv } from 'yargs';
import {
  blockSizeOptions,
  encoderOption,
  jsonOption,
  largeBlockSizeOption,
  presetOption,
  threadsOption,
} from './options.js';

export interface PackArgs {
  image: string;
  category: string;
  pn: string;
  pf: string;
  buildId: string;
  out?: string;
  preset?: string;
  threads?: number;
  /** A size such as `2MiB`. */
  blockSize?: string;
  /** A size; see PackOptions.largeBlockSize. */
  largeBlockSize?: string;
  /** A size; see PackOptions.sourceBlockSize. */
  sourceBlockSize?: string;
  encoder?: 'auto' | 'xz' | 'lzma-native';
  removePacked?: boolean;
  json?: boolean;
}

export const packCommand = {
  command: 'pack',
  describe: 'pack usr/src/debug and usr/lib/debug of an image into a verified, seekable .tar.xz',
  builder: (y: Argv) =>
    y
      .options({
        image: { alias: 'D', type: 'string', demandOption: true, describe: 'image directory (Portage ${ED})' },
        category: { type: 'string', demandOption: true, describe: 'package category (${CATEGORY})' },
        pn: { type: 'string', demandOption: true, describe: 'package name (${PN})' },
        pf: { type: 'string', demandOption: true, describe: 'package name and version with revision (${PF})' },
        'build-id': {
          type: 'string',
          demandOption: true,
          describe: 'binpkg BUILD_ID (an integer, FEATURES=binpkg-multi-instance)',
        },
        out: {
          alias: 'o',
          type: 'string',
          describe: 'output file (default: IMAGE/usr/lib/debug/.tarball/CAT/PN/PF-N-debug.tar.xz)',
        },
        ...presetOption,
        ...threadsOption(),
        ...blockSizeOptions,
        ...largeBlockSizeOption,
        ...encoderOption,
        'remove-packed': {
          type: 'boolean',
          default: false,
          describe:
            'after a verified write, remove the packed files from the image and prune the directories that emptied',
        },
        ...jsonOption('print the result as JSON'),
      } as const)
      .example('$0 pack --image "$ED" --category app-misc --pn hello --pf hello-1.0 --build-id 1', '')
      .epilog('Exit status: 0 packed (or nothing to pack), 1 failed (nothing written), 2 usage or input error.'),
};
