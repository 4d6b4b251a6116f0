/**
 * Byte sources for the ELF reader: random access to a file's bytes, which may
 * be partial (a streaming capture keeps only some ranges).
 */
import { readSync } from 'node:fs';

/** Random access to a file's bytes; returns undefined when the bytes are not available (streaming capture). */
export interface ByteSource {
  size: number;
  read(offset: number, length: number): Buffer | undefined;
  /**
   * Optional hint: these bytes may be read later. A streaming capture keeps
   * them if they are still ahead; random-access sources need not implement it.
   */
  want?(offset: number, length: number): void;
}

/** True when [offset, offset + length) lies inside a file of `size` bytes (no overflow, no NaN). */
export function fits(offset: number, length: number, size: number): boolean {
  return (
    Number.isSafeInteger(offset) &&
    Number.isSafeInteger(length) &&
    offset >= 0 &&
    length >= 0 &&
    offset <= size &&
    length <= size - offset
  );
}

/** A whole file held in memory. */
export function bufferSource(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    read(offset, length) {
      if (!fits(offset, length, buf.length)) return undefined;
      return buf.subarray(offset, offset + length);
    },
  };
}

/** An open file, read with pread(2); `size` is the file's size when it was opened. */
export function fdSource(fd: number, size: number): ByteSource {
  return {
    size,
    read(offset, length) {
      if (!fits(offset, length, size)) return undefined;
      const out = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n <= 0) return undefined; // the file shrank under us
        done += n;
      }
      return out;
    },
  };
}
