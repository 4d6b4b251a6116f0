import type { FileHandle } from 'node:fs/promises';
import { PackdebugError } from '../errors.js';
import { type EncoderBackend, lzma, runCoder } from './block-encoder.js';
import type { XzBlockInfo, XzFileLayout } from './file-layout.js';
import { encodeIndex } from './index.js';
import { encodeStreamFooter, encodeStreamHeader } from './stream-flags.js';
import { decodeWithXzProcess, XzMissingError } from './xz-process.js';

/** A Block on its own as a one-Block Stream (Header, Block, Index, Footer), which any xz decoder reads. */
export function wrapBlockInStream(
  block: Pick<XzBlockInfo, 'checkId' | 'unpaddedSize' | 'uncompressedSize'>,
  blockBytes: Buffer,
): Buffer {
  const index = encodeIndex([{ unpaddedSize: block.unpaddedSize, uncompressedSize: block.uncompressedSize }]);
  return Buffer.concat([
    encodeStreamHeader(block.checkId),
    blockBytes,
    index,
    encodeStreamFooter(block.checkId, index.length),
  ]);
}

/**
 * Decodes one Block on its own. The Block is wrapped in a one-Block Stream
 * and handed to liblzma's Stream decoder (in-process, or xz(1)), which
 * checks the Block Header, the sizes and the Check for us. An xz(1) that
 * cannot be started is an XzMissingError, for the caller to fall back.
 */
export async function decodeBlock(
  blockBytes: Buffer,
  block: XzBlockInfo,
  name: string,
  backend: EncoderBackend = 'lzma-native',
): Promise<Buffer> {
  const mini = wrapBlockInStream(block, blockBytes);
  let out: Buffer;
  try {
    out =
      backend === 'xz'
        ? await decodeWithXz(mini, block.uncompressedSize)
        : await runCoder(lzma().createStream('streamDecoder', { synchronous: false }), mini);
  } catch (err) {
    if (err instanceof XzMissingError) throw err;
    const reason = (err as Error).message ?? String(err);
    throw new PackdebugError('E_FORMAT', `${name}: Block at offset ${block.fileOffset} is corrupt: ${reason}`, {
      file: name,
      cause: err,
    });
  }
  if (out.length !== block.uncompressedSize) {
    throw new PackdebugError(
      'E_FORMAT',
      `${name}: Block at offset ${block.fileOffset} decodes to ${out.length} bytes, Index says ${block.uncompressedSize}`,
      { file: name },
    );
  }
  return out;
}

/** xz(1) decodes 2.5 to 4 times as fast as lzma-native's bundled liblzma (docs/layout.md). */
async function decodeWithXz(mini: Buffer, expected: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  // One byte more than expected is enough to tell a wrong size.
  await decodeWithXzProcess({ data: mini }, (chunk) => {
    chunks.push(chunk);
    size += chunk.length;
    return size <= expected;
  });
  return Buffer.concat(chunks, size);
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
