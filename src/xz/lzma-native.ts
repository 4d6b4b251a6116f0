import { createRequire } from 'node:module';
import { PackdebugError } from '../errors.js';

/**
 * The one place that loads lzma-native, an optional native addon (liblzma
 * 5.2.3 in-process). Its prebuilt bindings exist for a few platforms only
 * (glibc amd64 and arm64): elsewhere, or in a release (which never bundles
 * it), it does not load, and every caller then uses xz(1) and the
 * in-process code (lzma2-prefix.ts, crc32.ts) instead, with the same bytes.
 * PACKDEBUG_LZMA_NATIVE=0 makes it unloadable on purpose (the tests' second
 * run).
 */

const require = createRequire(import.meta.url);

export const LZMA_NATIVE_SWITCH = 'PACKDEBUG_LZMA_NATIVE';

/** The part of lzma-native packdebug uses. */
export interface LzmaNative {
  createStream(coder: string, options: object): NodeJS.ReadWriteStream;
  FILTER_LZMA2: string;
  CHECK_CRC64: number;
  /** lzma-native's own version, e.g. 8.0.6. */
  version: string;
  /** The bundled liblzma's version, e.g. 5.2.3. */
  versionString(): string;
}

export interface LzmaNativeLoad {
  addon?: LzmaNative;
  /** Why it did not load (one line). */
  error?: string;
}

let load: LzmaNativeLoad | undefined;

/** Whether `env` turns lzma-native off (PACKDEBUG_LZMA_NATIVE=0). */
export function lzmaNativeDisabled(env: NodeJS.ProcessEnv): boolean {
  return env[LZMA_NATIVE_SWITCH] === '0';
}

/** The outcome of the one attempt to load lzma-native (made on the first call). */
export function lzmaNativeLoad(): LzmaNativeLoad {
  if (!load) {
    if (lzmaNativeDisabled(process.env)) load = { error: `disabled by ${LZMA_NATIVE_SWITCH}=0` };
    else {
      try {
        load = { addon: require('lzma-native') as LzmaNative };
      } catch (err) {
        load = { error: String((err as Error)?.message ?? err).split('\n')[0] };
      }
    }
  }
  return load;
}

/** lzma-native, or undefined when it cannot load here (or PACKDEBUG_LZMA_NATIVE=0). */
export function loadLzmaNative(): LzmaNative | undefined {
  return lzmaNativeLoad().addon;
}

/** What to say when a decode or encode has neither backend. */
export function noXzBackend(doing: 'decode' | 'encode'): PackdebugError {
  const why = lzmaNativeLoad().error ?? 'not loaded';
  return new PackdebugError(
    'E_IO',
    `cannot ${doing} xz: no usable xz(1) (XZ Utils 5.0 or later) on PATH and lzma-native is unavailable (${why}); ` +
      'install app-arch/xz-utils',
  );
}
