import { PackdebugError } from '../errors.js';

/**
 * LZMA2 encoder settings. We spell presets out (as liblzma's
 * lzma_lzma_preset does) instead of passing `preset` to lzma-native, because
 * a preset there overrides the dictionary size, and we size the dictionary
 * to each Block: a dictionary larger than the Block buys nothing, costs
 * encoder memory, and makes every reader allocate it.
 */
export interface Lzma2Options {
  dictSize: number;
  lc: number;
  lp: number;
  pb: number;
  /** 1 = fast, 2 = normal (lzma-native's MODE_FAST / MODE_NORMAL). */
  mode: number;
  niceLen: number;
  /** Match finder: 3 = hc3, 4 = hc4, 0x14 = bt4 (lzma-native's MF_*). */
  mf: number;
  depth: number;
}

export interface Preset {
  level: number;
  extreme: boolean;
}

const DICT_POW2 = [18, 20, 21, 22, 22, 23, 23, 24, 25, 26] as const;
const MF_HC3 = 0x03;
const MF_HC4 = 0x04;
const MF_BT4 = 0x14;
const MODE_FAST = 1;
const MODE_NORMAL = 2;

/** Parses `6`, `9e`, `0e` (also accepts `-6` and `6e` / `6extreme` spelled as xz does). */
export function parsePreset(value: string | number | undefined): Preset {
  if (value === undefined || value === '') return { level: 6, extreme: false };
  const m = /^-?([0-9])(e|extreme)?$/i.exec(String(value).trim());
  if (!m) throw new PackdebugError('E_USAGE', `invalid preset '${value}': expected 0-9 or 0e-9e`);
  return { level: Number(m[1]), extreme: m[2] !== undefined };
}

/** liblzma 5.2's lzma_lzma_preset, field by field. */
export function presetOptions({ level, extreme }: Preset): Lzma2Options {
  const o: Lzma2Options = {
    dictSize: 2 ** DICT_POW2[level]!,
    lc: 3,
    lp: 0,
    pb: 2,
    mode: level <= 3 ? MODE_FAST : MODE_NORMAL,
    mf: level <= 3 ? (level === 0 ? MF_HC3 : MF_HC4) : MF_BT4,
    niceLen: level <= 3 ? (level <= 1 ? 128 : 273) : level === 4 ? 16 : level === 5 ? 32 : 64,
    depth: level <= 3 ? ([4, 8, 24, 48] as const)[level]! : 0,
  };
  if (extreme) {
    o.mode = MODE_NORMAL;
    o.mf = MF_BT4;
    if (level === 3 || level === 5) {
      o.niceLen = 192;
      o.depth = 0;
    } else {
      o.niceLen = 273;
      o.depth = 512;
    }
  }
  return o;
}

/** Smallest dictionary size LZMA2 can encode (2^n or 2^n + 2^(n-1)) that covers `bytes`. */
export function dictSizeFor(bytes: number, presetDict: number): number {
  const MIN = 4096;
  let size = MIN;
  while (size < bytes && size < presetDict) {
    const half = size + size / 2;
    size = half >= bytes ? half : size * 2;
  }
  return Math.min(size, presetDict);
}
