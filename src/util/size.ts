/**
 * Byte sizes as users write them (`--block-size`, PACKDEBUG_BLOCK_SIZE) and
 * as packdebug prints them.
 *
 * Every suffix is binary (powers of 1024), the way xz(1) reads its own
 * `--block-size`: `K`, `KB`, `Ki` and `KiB` all mean 1024 bytes, `M`/`MB`/
 * `Mi`/`MiB` mean 1024², `G`/`GB`/`Gi`/`GiB` mean 1024³. A bare number or a
 * `B` suffix means bytes. Suffixes are case-insensitive, may be separated
 * from the number by blanks, and the number may have a fraction as long as
 * the result is a whole number of bytes (`1.5M` is fine, `1.5` is not).
 */
import { PackdebugError } from '../errors.js';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  ki: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
};

const SIZE_RE = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)[ \t]*([A-Za-z]*)$/;

/**
 * Parses a size such as `65536`, `64K`, `64KiB`, `16 MiB`, `1.5g` into bytes.
 * `label` names the setting in the error message (default: the text itself),
 * e.g. `PACKDEBUG_BLOCK_SIZE=abc` or `--block-size abc`.
 * Throws PackdebugError E_USAGE when the text is not a size.
 */
export function parseSize(text: string, label: string = text): number {
  const fail = (why: string): never => {
    throw new PackdebugError('E_USAGE', `${label}: ${why}`);
  };
  const m = SIZE_RE.exec(text.trim());
  if (m === null) {
    return fail('not a size (bytes, or a number with a K/KiB, M/MiB or G/GiB suffix)');
  }
  const [, num = '', suffix = ''] = m;
  const unit = UNITS[suffix.toLowerCase()];
  if (unit === undefined) {
    return fail(`unknown size suffix '${suffix}' (use K/KiB, M/MiB or G/GiB; all are powers of 1024)`);
  }
  const bytes = exactProduct(num, unit);
  if (bytes === undefined) return fail('not a whole number of bytes');
  if (!Number.isSafeInteger(bytes)) return fail('too large');
  return bytes;
}

/** num (a decimal literal) × unit, computed exactly; undefined when not integral. */
function exactProduct(num: string, unit: number): number | undefined {
  const [intPart = '', fracPart = ''] = num.split('.');
  const scale = 10n ** BigInt(fracPart.length);
  const scaled = BigInt((intPart || '0') + fracPart) * BigInt(unit);
  if (scaled % scale !== 0n) return undefined;
  const result = scaled / scale;
  return result > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(result);
}

/**
 * Formats a byte count for messages: `512 B`, `64 KiB`, `1.5 MiB`, `12.3 GiB`.
 * One decimal below 100 units (dropped when it is zero), none above.
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  if (value < 1024) return `${sign}${Math.round(value)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = -1;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  let text = value < 100 ? value.toFixed(1) : value.toFixed(0);
  // 1023.96 KiB rounds to "1024": say 1.0 MiB instead.
  if (Number(text) >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
    text = value.toFixed(1);
  }
  return `${sign}${text.replace(/\.0$/, '')} ${units[i]}`;
}

/** parseSize for an optional command-line option, named in errors as `--option VALUE`. */
export function optionalSize(text: string | undefined, option: string): number | undefined {
  return text === undefined ? undefined : parseSize(text, `${option} ${text}`);
}

/**
 * A non-negative number given as text (seconds, or with `integer` a count),
 * at most `max`; `fallback` when absent. E_USAGE naming `--name` otherwise.
 */
export function parseNumberOption(
  name: string,
  value: string | undefined,
  fallback: number,
  { integer = false, max = 86400 }: { integer?: boolean; max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)) || n > max)
    throw new PackdebugError('E_USAGE', `--${name}: '${value}' is not a ${integer ? 'count' : 'number of seconds'}`);
  return n;
}
