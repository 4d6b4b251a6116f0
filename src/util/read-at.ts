/**
 * What the xz readers need of a file: positioned reads, its size, closing.
 * A FileHandle is one; so is an HTTP resource read with Range requests
 * (src/http/range-reader.ts). The layout and Block readers take this, so a
 * tarball on a mirror is read with the code that reads one on disk.
 */
export interface ReadAt {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
  /** A file descriptor, when the bytes are a local file (a child process may then read it whole). */
  readonly fd?: number;
}

/** `length` bytes at `position`, fewer only at the end of the data. */
export async function readFully(source: ReadAt, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await source.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}
