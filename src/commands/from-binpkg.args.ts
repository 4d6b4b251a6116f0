import type { Argv } from 'yargs';
import {
  blockSizeOptions,
  DEFAULT_TREE,
  encoderOption,
  jobsOption,
  jsonOption,
  largeBlockSizeOption,
  presetOption,
  threadsOption,
} from './options.js';

export interface FromBinpkgArgs {
  /** One PKGDIR, or binpkg files (directories and files may be mixed). */
  targets: string[];
  /** Output tree; default `${EPREFIX}/usr/lib/debug/.tarball`. */
  out?: string;
  /** Binpkgs converted at once; default: the number of cores. */
  jobs?: number;
  /**
   * Encoder threads per binpkg (default: the number of cores); all binpkgs
   * together never run more encoders than the cores.
   */
  threads?: number;
  preset?: string;
  blockSize?: string;
  sourceBlockSize?: string;
  largeBlockSize?: string;
  encoder?: 'auto' | 'xz' | 'lzma-native';
  /** Directory for spill files; default $TMPDIR. */
  tmpdir?: string;
  /** Caps per binpkg (sizes as text; PACKDEBUG_MAX_SPILL etc. otherwise): see binpkg/limits.ts. */
  maxSpill?: string;
  maxSpillRatio?: string;
  decompressMemory?: string;
  maxMetadata?: string;
  /** Keep the output tree's build-id index current (docs/index-format.md). */
  index?: boolean;
  /** Write an index fragment of the tarballs written or kept, for `packdebug index --merge`. */
  indexFragment?: string;
  json?: boolean;
}

export const fromBinpkgCommand = {
  command: 'from-binpkg <targets..>',
  describe:
    'debug tarballs from binpkgs (GPKG or XPAK) that still carry usr/lib/debug and usr/src/debug, ' +
    'without unpacking them',
  builder: (y: Argv) =>
    y
      .positional('targets', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'a PKGDIR (with or without its Packages index) or binpkg files (*.gpkg.tar, *.tbz2, *.xpak)',
      })
      .options({
        out: {
          alias: 'o',
          type: 'string',
          describe: `output tree: tarballs go to TREE/CATEGORY/PN/PF-BUILD_ID-debug.tar.xz (default: ${DEFAULT_TREE})`,
        },
        ...jobsOption('binpkgs converted at once (default: the number of cores)'),
        ...threadsOption(
          'Blocks compressed at once per binpkg (default: the number of cores; ' +
            'all binpkgs together never compress more Blocks at once than that)',
        ),
        ...presetOption,
        ...blockSizeOptions,
        ...largeBlockSizeOption,
        ...encoderOption,
        tmpdir: {
          type: 'string',
          describe:
            'where the debug data of a binpkg waits while its image streams by (default: $TMPDIR); ' +
            "needs room for the largest package's debug files, times --jobs",
        },
        'max-spill': {
          type: 'string',
          describe: 'most debug file data per binpkg (default 32GiB; env PACKDEBUG_MAX_SPILL)',
        },
        'max-spill-ratio': {
          type: 'string',
          describe: "most debug file data per binpkg, times the binpkg's size, at least 256MiB (default 100)",
        },
        'decompress-memory': {
          type: 'string',
          describe: 'most memory a decompressor may use per binpkg (default 256MiB; zstd, xz, lzip)',
        },
        'max-metadata': {
          type: 'string',
          describe: 'most decompressed metadata per binpkg (default 32MiB)',
        },
        index: {
          type: 'boolean',
          default: false,
          describe: "update the output tree's build-id index for the packages written (packdebug index --only)",
        },
        'index-fragment': {
          type: 'string',
          describe: 'write an index fragment of the tarballs written or up to date, for packdebug index --merge',
        },
        ...jsonOption('print {tree, packed, skipped, failed, notices, results[], index?} as JSON'),
      } as const)
      .example('$0 from-binpkg /var/cache/binpkgs --out /srv/debug/.tarball', '')
      .epilog(
        'Binpkgs are never modified. Exit status: 0 every binpkg packed or skipped, ' +
          '1 some failed (the others are done), 2 usage or input error.',
      ),
};
