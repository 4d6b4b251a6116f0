/**
 * Opening files that users and trees name, which may be anything: a FIFO
 * (open(2) for reading blocks until a writer comes; reads block after), a
 * device (/dev/zero never ends), a symlink to either. Both helpers open
 * with O_NONBLOCK, so open(2) itself never waits, and check with fstat that
 * what was opened is a regular file before reading a byte.
 */
import fsSync, { type Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import { fromSystemError, PackdebugError } from '../errors.js';

export interface OpenRegularOptions {
  /** Name for messages (default: the path). */
  name?: string;
  /** O_NOFOLLOW: a symlink is refused (E_INPUT) instead of followed. */
  noFollow?: boolean;
  /** What the caller was doing, for messages of other failures (default 'opening'). */
  doing?: string;
}

/** What a non-regular file is, for messages. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return st.isFile() ? 'a regular file' : 'not a regular file';
}

function notRegular(name: string, st: Stats): PackdebugError {
  return new PackdebugError('E_INPUT', `${name}: not a regular file (${fileKind(st)})`, { file: name });
}

/**
 * Opens `file` read-only, refusing (E_INPUT, "FILE: not a regular file (a
 * FIFO)") anything but a regular file without blocking on it. Other
 * failures are fromSystemError's (ENOENT included, for the caller to
 * tell apart by `cause`).
 */
export async function openRegularFile(file: string, options: OpenRegularOptions = {}): Promise<FileHandle> {
  const name = options.name ?? file;
  const C = fs.constants;
  let fh: FileHandle;
  try {
    fh = await fs.open(file, C.O_RDONLY | C.O_NONBLOCK | (options.noFollow ? C.O_NOFOLLOW : 0));
  } catch (err) {
    if (options.noFollow && (err as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new PackdebugError('E_INPUT', `${name}: a symbolic link (not followed)`, { file: name, cause: err });
    }
    throw fromSystemError(err, name, options.doing ?? 'opening');
  }
  let st: Stats;
  try {
    st = await fh.stat();
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw fromSystemError(err, name, options.doing ?? 'opening');
  }
  if (!st.isFile()) {
    await fh.close().catch(() => undefined);
    throw notRegular(name, st);
  }
  return fh;
}

/** Small metadata files (BUILD_ID, CATEGORY, PF, ...) are read up to this many bytes. */
export const SMALL_FILE_LIMIT = 4096;

/**
 * The text of a small file (a VDB or build-info entry): a regular file of
 * at most `limit` bytes (default SMALL_FILE_LIMIT), read with at most
 * limit + 1 bytes of memory. Symlinks are not followed unless `follow`.
 * Undefined when the file does not exist; E_INPUT when it is something
 * else than a regular file or larger than the limit.
 */
export async function readSmallFile(
  file: string,
  options: { name?: string; limit?: number; follow?: boolean } = {},
): Promise<string | undefined> {
  const name = options.name ?? file;
  const limit = options.limit ?? SMALL_FILE_LIMIT;
  let fh: FileHandle;
  try {
    fh = await openRegularFile(file, { name, noFollow: !options.follow, doing: 'reading' });
  } catch (err) {
    const code = ((err as PackdebugError).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    const buf = Buffer.alloc(limit + 1);
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return smallFileText(buf, done, limit, name);
  } catch (err) {
    throw fromSystemError(err, name, 'reading');
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** The text of a small file read into `buf` (one byte more than `limit`, to tell a larger file). */
function smallFileText(buf: Buffer, length: number, limit: number, name: string): string {
  if (length > limit)
    throw new PackdebugError('E_INPUT', `${name}: larger than ${limit} bytes (not a metadata file)`, { file: name });
  return buf.toString('utf8', 0, length);
}

/** readSmallFile for synchronous callers (the hook's settings). */
export function readSmallFileSync(
  file: string,
  options: { name?: string; limit?: number; follow?: boolean } = {},
): string | undefined {
  const name = options.name ?? file;
  const limit = options.limit ?? SMALL_FILE_LIMIT;
  const C = fsSync.constants;
  let fd: number;
  try {
    fd = fsSync.openSync(file, C.O_RDONLY | C.O_NONBLOCK | (options.follow ? 0 : C.O_NOFOLLOW));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP' && !options.follow)
      throw new PackdebugError('E_INPUT', `${name}: a symbolic link (not followed)`, { file: name, cause: err });
    throw fromSystemError(err, name, 'reading');
  }
  try {
    const st = fsSync.fstatSync(fd);
    if (!st.isFile()) throw notRegular(name, st);
    const buf = Buffer.alloc(limit + 1);
    let done = 0;
    for (let n = -1; n !== 0 && done < buf.length; done += n)
      n = fsSync.readSync(fd, buf, done, buf.length - done, done);
    return smallFileText(buf, done, limit, name);
  } catch (err) {
    throw fromSystemError(err, name, 'reading');
  } finally {
    fsSync.closeSync(fd);
  }
}
