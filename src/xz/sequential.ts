import { createReadStream } from 'node:fs';
import { PackdebugError } from '../errors.js';
import { type LzmaNative, loadLzmaNative, noXzBackend } from './lzma-native.js';
import { decodeWithXzProcess, XzFailedError, XzMissingError } from './xz-process.js';

/**
 * Decodes a whole .xz file from the start (all Streams), handing the
 * uncompressed data to `onChunk` as it comes. `onChunk` may return false to
 * stop early. This is the slow path, for files that are not seekable.
 * `file` is the name for error messages (default: `path`). In-process by
 * lzma-native, else by xz(1).
 */
export function decodeSequential(path: string, onChunk: (chunk: Buffer) => boolean | void, file = path): Promise<void> {
  const native = loadLzmaNative();
  return native ? decodeWithNative(native, path, onChunk, file) : decodeWithXz(path, onChunk, file);
}

async function decodeWithXz(path: string, onChunk: (chunk: Buffer) => boolean | void, file: string): Promise<void> {
  // Node reads the file and pipes it to xz: a read error is the file's, with its errno, as in-process.
  const input = createReadStream(path);
  try {
    await decodeWithXzProcess({ pieces: input }, (chunk) => onChunk(chunk) !== false);
  } catch (err) {
    if (err instanceof XzMissingError) throw noXzBackend('decode');
    if (err instanceof XzFailedError) {
      throw new PackdebugError('E_FORMAT', `${file}: corrupt xz data: ${err.message}`, { file, cause: err });
    }
    throw asPackdebugError(err, file);
  } finally {
    input.destroy();
  }
}

function asPackdebugError(err: unknown, file: string): PackdebugError {
  if (err instanceof PackdebugError) return err;
  const e = err as NodeJS.ErrnoException;
  const reason = e.message ?? String(err);
  return e.code && /^E[A-Z]+$/.test(e.code)
    ? new PackdebugError('E_IO', `${file}: ${reason}`, { file, cause: err })
    : new PackdebugError('E_FORMAT', `${file}: corrupt xz data: ${reason}`, { file, cause: err });
}

function decodeWithNative(
  native: LzmaNative,
  path: string,
  onChunk: (chunk: Buffer) => boolean | void,
  file: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const input = createReadStream(path);
    const decoder = native.createStream('streamDecoder', { synchronous: false });
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      input.destroy();
      (decoder as unknown as { destroy(): void }).destroy();
      if (err === undefined) resolve();
      else reject(asPackdebugError(err, file));
    };
    input.on('error', finish);
    decoder.on('error', finish);
    decoder.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        if (onChunk(chunk) === false) finish();
      } catch (err) {
        finish(err);
      }
    });
    decoder.on('end', () => finish());
    input.pipe(decoder as unknown as NodeJS.WritableStream);
  });
}
