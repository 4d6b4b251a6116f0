import { PackdebugError } from '../errors.js';
import { type EncoderBackend, lzma, runCoder } from './block-encoder.js';
import type { XzBlockInfo } from './file-layout.js';
import { encodeIndex } from './index.js';
import { encodeStreamFooter, encodeStreamHeader } from './stream-flags.js';

/**
 * Decodes one Block on its own. The Block is wrapped in a one-Block Stream
 * (header, Block, Index, footer) and handed to liblzma's Stream decoder,
 * which checks the Block Header, the sizes and the Check for us.
 */
export async function decodeBlock(blockBytes: Buffer, block: XzBlockInfo, name: string, backend: EncoderBackend = 'lzma-native'): Promise<Buffer> {
  const record = { unpaddedSize: block.unpaddedSize, uncompressedSize: block.uncompressedSize };
  const index = encodeIndex([record]);
  const mini = Buffer.concat([encodeStreamHeader(block.checkId), blockBytes, index, encodeStreamFooter(block.checkId, index.length)]);
  let out: Buffer;
  try {
    out = backend === 'xz' ? await decodeWithXz(mini, block.uncompressedSize) : await runCoder(lzma().createStream('streamDecoder', { synchronous: false }), mini);
  } catch (err) {
    const reason = (err as Error).message ?? String(err);
    throw new PackdebugError('E_FORMAT', `${name}: Block at offset ${block.fileOffset} is corrupt: ${reason}`, { file: name, cause: err });
  }
  if (out.length !== block.uncompressedSize) {
    throw new PackdebugError('E_FORMAT', `${name}: Block at offset ${block.fileOffset} decodes to ${out.length} bytes, Index says ${block.uncompressedSize}`, { file: name });
  }
  return out;
}

/** xz(1) decodes about 2.5 times as fast as lzma-native's bundled liblzma (docs/layout.md). */
async function decodeWithXz(mini: Buffer, expected: number): Promise<Buffer> {
  const { execa } = await import('execa');
  const r = await execa('xz', ['--decompress', '--stdout', '--quiet', '--no-warn', '--single-stream'], {
    input: mini,
    encoding: 'buffer',
    stripFinalNewline: false,
    maxBuffer: expected + 1,
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(Buffer.from(r.stderr).toString().trim().replace(/^xz: \(stdin\): /, '') || `xz exited with ${r.exitCode}`);
  return Buffer.from(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength);
}
