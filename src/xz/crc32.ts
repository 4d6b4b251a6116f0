import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let native: { crc32: (buf: Buffer, previous?: number) => number } | undefined;

/** CRC32 (IEEE, as xz uses it), computed by liblzma through lzma-native. */
export function crc32(data: Uint8Array): number {
  native ??= require('lzma-native');
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return native!.crc32(buf) >>> 0;
}
