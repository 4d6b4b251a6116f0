import type { FileHandle } from 'node:fs/promises';
import { PackdebugError } from '../errors.js';
import { type EncoderBackend, runCoder } from './block-encoder.js';
import type { XzBlockInfo, XzFileLayout } from './file-layout.js';
import { encodeIndex } from './index.js';
import { loadLzmaNative, noXzBackend } from './lzma-native.js';
import { encodeStreamFooter, encodeStreamHeader } from './stream-flags.js';
import { decodeWithXzProcess, XzFailedError, XzMissingError } from './xz-process.js';

type WrappedBlock = Pick<XzBlockInfo, 'checkId' | 'unpaddedSize' | 'uncompressedSize'>;

/** A Block on its own as a one-Block Stream (Header, Block, Index, Footer), which any xz decoder reads. */
export function wrapBlockInStream(block: WrappedBlock, blockBytes: Buffer): Buffer {
  const { before, after } = streamAround(block);
  return Buffer.concat([before, blockBytes, after]);
}

/**
 * What wrapBlockInStream puts before the Block (the Stream Header) and after
 * it (Index and Stream Footer), for a caller that sends the Block itself in
 * pieces as it reads them from the file.
 */
export function streamAround(block: WrappedBlock): { before: Buffer; after: Buffer } {
  const index = encodeIndex([{ unpaddedSize: block.unpaddedSize, uncompressedSize: block.uncompressedSize }]);
  return {
    before: encodeStreamHeader(block.checkId),
    after: Buffer.concat([index, encodeStreamFooter(block.checkId, index.length)]),
  };
}

/**
 * Decodes one Block on its own. The Block is wrapped in a one-Block Stream
 * and handed to liblzma's Stream decoder (in-process, or xz(1)), which
 * checks the Block Header, the sizes and the Check for us. An xz(1) that
 * cannot be started is an XzMissingError, for the caller to fall back;
 * 'lzma-native' that cannot load is xz(1), and neither there an E_IO.
 */
export async function decodeBlock(
  blockBytes: Buffer,
  block: XzBlockInfo,
  name: string,
  backend: EncoderBackend = 'lzma-native',
): Promise<Buffer> {
  const mini = wrapBlockInStream(block, blockBytes);
  const native = backend === 'lzma-native' ? loadLzmaNative() : undefined;
  let out: Buffer;
  try {
    out = native
      ? await runCoder(native.createStream('streamDecoder', { synchronous: false }), mini)
      : await decodeWithXz(mini, block.uncompressedSize);
  } catch (err) {
    if (err instanceof XzMissingError) throw backend === 'lzma-native' ? noXzBackend('decode') : err;
    const reason = (err as Error).message ?? String(err);
    throw new PackdebugError('E_FORMAT', `${name}: Block at offset ${block.fileOffset} is corrupt: ${reason}`, {
      file: name,
      cause: err,
    });
  }
  if (out.length !== block.uncompressedSize) {
    throw new PackdebugError(
      'E_FORMAT',
      `${name}: Block at offset ${block.fileOffset} decodes to ${out.length} bytes, ` +
        `Index says ${block.uncompressedSize}`,
      { file: name },
    );
  }
  return out;
}

/** xz(1) decodes 2.5 to 4 times as fast as lzma-native's bundled liblzma (docs/layout.md). */
async function decodeWithXz(mini: Buffer, expected: number): Promise<Buffer> {
  // Decoded into place: collecting chunks and concatenating them would hold the Block twice.
  const out = Buffer.allocUnsafe(expected);
  let size = 0;
  await decodeWithXzProcess({ data: mini }, (chunk) => {
    // One byte more than expected is enough to tell a wrong size.
    size += chunk.length;
    if (size > expected) return false;
    chunk.copy(out, size - chunk.length);
    return true;
  });
  if (size > expected) throw new XzFailedError(`decodes to more than the ${expected} bytes the Index says`);
  return out.subarray(0, size);
}

/**
 * Decodes the Blocks of a file in order, up to `threads` at once, handing
 * each Block's data to `onBlock`.
 */
export async function forEachBlock(
  fh: FileHandle,
  name: string,
  layout: XzFileLayout,
  threads: number,
  onBlock: (data: Buffer, index: number) => void,
  backend: EncoderBackend = 'lzma-native',
): Promise<void> {
  const pending: Promise<Buffer>[] = [];
  let next = 0;
  const start = () => {
    const b = layout.blocks[next++]!;
    const p = (async () => {
      const bytes = Buffer.alloc(b.totalSize);
      const { bytesRead } = await fh.read(bytes, 0, b.totalSize, b.fileOffset);
      if (bytesRead !== b.totalSize)
        throw new PackdebugError('E_FORMAT', `${name}: truncated Block at offset ${b.fileOffset}`, { file: name });
      return decodeBlock(bytes, b, name, backend);
    })();
    p.catch(() => undefined);
    pending.push(p);
  };
  try {
    for (let i = 0; i < layout.blocks.length; i++) {
      while (next < layout.blocks.length && pending.length < Math.max(1, threads)) start();
      onBlock(await pending.shift()!, i);
    }
  } finally {
    await Promise.allSettled(pending);
  }
}
