import type { PackLogger } from '../util/io.js';

/** Options and result of the pack engine (`packdebug pack`, `packdebug hook`). */
export interface PackOptions {
  /** The image directory (Portage's ${ED}); debug roots are looked up below it. */
  image: string;
  category: string;
  pn: string;
  pf: string;
  /** Portage's binpkg BUILD_ID (an integer, not an ELF build-id). */
  buildNumber: string;
  /** Output file; default `${image}/usr/lib/debug/.tarball/CAT/PN/PF-BUILD_ID-debug.tar.xz`. */
  out?: string;
  /** xz preset 0-9, optionally extreme (`6e`). Default 6. */
  preset?: string | number;
  /** Compression threads. Default: all cores. */
  threads?: number;
  /** Who compresses Blocks: the system's xz (faster) or lzma-native; default auto (xz when on PATH). */
  encoder?: 'auto' | 'xz' | 'lzma-native';
  /** Target uncompressed size of a Block of small members, in bytes (default 1984 KiB; see docs/layout.md). */
  blockSize?: number;
  /**
   * Members of at least blockSize bytes get Blocks of their own, split into
   * parts of at most this many bytes. Default: twice blockSize, at most the
   * preset's dictionary size (8 MiB at preset 6), at least blockSize.
   */
  largeBlockSize?: number;
  /**
   * Block size for the sources (usr/src/debug), which debuggers fetch one
   * file at a time. Default: the smaller of blockSize and 1984 KiB, so a
   * large blockSize (leaning to size) only affects the debug files.
   */
  sourceBlockSize?: number;
  /** After a verified write, remove the packed files and prune what that emptied. */
  removePacked?: boolean;
  /** Clamp member mtimes to this epoch (SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
  /** Progress and notices; silent when absent. */
  log?: PackLogger;
}

export interface PackResult {
  /** 'packed' when a tarball was written, 'empty' when the image has no debug dirs. */
  status: 'packed' | 'empty';
  /** Final tarball path (absent when status is 'empty'). */
  tarball?: string;
  members: number;
  /** Bytes of the uncompressed tar stream. */
  uncompressedBytes: number;
  /** Bytes of the .tar.xz file. */
  compressedBytes: number;
  blocks: number;
  /** Files and symlinks removed from the image by removePacked. */
  removedFiles: number;
  /** Directories pruned because removal emptied them. */
  prunedDirs: number;
  /** A tarball with other bytes but the same contents existed under the final name and was replaced. */
  replaced: boolean;
  /** The tarball under the final name was already byte-identical: left alone (its mtime too). */
  unchanged: boolean;
}
