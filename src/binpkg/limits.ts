/**
 * Resource caps for reading binpkgs that packdebug did not write: a 150 KB
 * GPKG can hold 4 GiB of zeros, a zstd frame can ask for a 2 GiB window, an
 * xz Block for a 1.5 GiB dictionary. from-binpkg runs from cron over a
 * PKGDIR, several binpkgs at once; every cap is per binpkg, so memory and
 * disk are at most `--jobs` times these. A binpkg past a cap fails with an
 * error naming it and the cap (the others go on); the caps are generous for
 * real packages (docs/reference.md has the figures) and settable.
 */
import { PackdebugError } from '../errors.js';
import { formatSize, parseSize } from '../util/size.js';

export interface BinpkgLimits {
  /** Memory a decompressor may use (zstd --memory, xz --memlimit-decompress, lzip's dictionary). */
  decompressMemory: number;
  /** Bytes of decompressed metadata (metadata.tar, or the XPAK segment) read per binpkg. */
  metadataBytes: number;
  /** Absolute cap on the debug file data of one binpkg (what from-binpkg spills to --tmpdir). */
  spillBytes: number;
  /** Debug file data may be this many times the binpkg's size (but always SPILL_FLOOR). */
  spillRatio: number;
}

export const DEFAULT_LIMITS: Readonly<BinpkgLimits> = {
  // zstd's own default is 128 MiB (windowLog 27, what --ultra -22 writes); xz -9 needs 65 MiB, lzip -9 32 MiB.
  decompressMemory: 256 << 20,
  // Portage's metadata is tens of KB of text plus environment.bz2 (a few MB at most).
  metadataBytes: 32 << 20,
  spillBytes: 32 * 1024 ** 3,
  // Debug info compresses 3-6x with zstd or xz; the rest of the image only lowers the ratio.
  spillRatio: 100,
};

/** The ratio cap never goes below this (small binpkgs of highly compressible debug info). */
export const SPILL_FLOOR = 256 << 20;

/** Metadata values larger than this are not text packdebug needs (environment.bz2): skipped, never buffered. */
export const MAX_VALUE_BYTES = 1 << 20;
/** Metadata keys per binpkg (Portage writes about 40 to 60). */
export const MAX_METADATA_KEYS = 4096;

export interface LimitOverrides {
  decompressMemory?: string;
  maxMetadata?: string;
  maxSpill?: string;
  maxSpillRatio?: string;
}

/**
 * The caps from options (`--decompress-memory` etc., as text) over the environment (PACKDEBUG_DECOMPRESS_MEMORY,
 * PACKDEBUG_MAX_METADATA, PACKDEBUG_MAX_SPILL, PACKDEBUG_MAX_SPILL_RATIO) over the defaults; E_USAGE when one
 * is not a positive size or number.
 */
export function binpkgLimits(env: NodeJS.ProcessEnv = {}, options: LimitOverrides = {}): BinpkgLimits {
  const size = (option: string, name: string, text: string | undefined, fallback: number): number => {
    const fromOption = text !== undefined;
    const value = fromOption ? text : env[name];
    if (value === undefined || value === '') return fallback;
    const label = fromOption ? `--${option} ${value}` : `${name}=${value}`;
    const bytes = parseSize(value, label);
    if (bytes <= 0) throw new PackdebugError('E_USAGE', `${label}: must be more than 0`);
    return bytes;
  };
  const ratioText = options.maxSpillRatio ?? env['PACKDEBUG_MAX_SPILL_RATIO'];
  let spillRatio = DEFAULT_LIMITS.spillRatio;
  if (ratioText !== undefined && ratioText !== '') {
    const label =
      options.maxSpillRatio !== undefined ? `--max-spill-ratio ${ratioText}` : `PACKDEBUG_MAX_SPILL_RATIO=${ratioText}`;
    spillRatio = Number(ratioText.trim());
    if (!/^[0-9]+(\.[0-9]+)?$/.test(ratioText.trim()) || !(spillRatio > 0))
      throw new PackdebugError('E_USAGE', `${label}: not a positive number`);
  }
  return {
    decompressMemory: size(
      'decompress-memory',
      'PACKDEBUG_DECOMPRESS_MEMORY',
      options.decompressMemory,
      DEFAULT_LIMITS.decompressMemory,
    ),
    metadataBytes: size('max-metadata', 'PACKDEBUG_MAX_METADATA', options.maxMetadata, DEFAULT_LIMITS.metadataBytes),
    spillBytes: size('max-spill', 'PACKDEBUG_MAX_SPILL', options.maxSpill, DEFAULT_LIMITS.spillBytes),
    spillRatio,
  };
}

/** Debug file data a binpkg of `binpkgSize` bytes may hold: RATIO x its size, at least SPILL_FLOOR, at most the cap. */
export function spillAllowance(binpkgSize: number, limits: BinpkgLimits): number {
  return Math.min(limits.spillBytes, Math.max(Math.ceil(limits.spillRatio * binpkgSize), SPILL_FLOOR));
}

/** The error for a binpkg past a cap; `how` names the setting that raises it. */
export function limitError(file: string, what: string, limit: number, how: string): PackdebugError {
  return new PackdebugError('E_UNSUPPORTED', `${file}: ${what} (limit ${formatSize(limit)}; raise it with ${how})`, {
    file,
  });
}
