import { createReadStream } from 'node:fs';
import { PackdebugError } from '../errors.js';
import { lzma } from './block-encoder.js';

/**
 * Decodes a whole .xz file from the start (all Streams), handing the
 * uncompressed data to `onChunk` as it comes. `onChunk` may return false to
 * stop early. This is the slow path, for files that are not seekable.
 * `file` is the name for error messages (default: `path`).
 */
export function decodeSequential(path: string, onChunk: (chunk: Buffer) => boolean | void, file = path): Promise<void> {
  return new Promise((resolve, reject) => {
    const input = createReadStream(path);
    const decoder = lzma().createStream('streamDecoder', { synchronous: false });
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      input.destroy();
      (decoder as unknown as { destroy(): void }).destroy();
      if (err === undefined) resolve();
      else if (err instanceof PackdebugError) reject(err);
      else {
        const e = err as NodeJS.ErrnoException;
        const reason = e.message ?? String(err);
        reject(
          e.code && /^E[A-Z]+$/.test(e.code)
            ? new PackdebugError('E_IO', `${file}: ${reason}`, { file, cause: err })
            : new PackdebugError('E_FORMAT', `${file}: corrupt xz data: ${reason}`, { file, cause: err }),
        );
      }
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
