import { createRequire } from 'node:module';
import { PackdebugError } from '../errors.js';
import { decodeIndex, padTo4 } from './index.js';
import type { Lzma2Options } from './lzma2-options.js';
import { CHECK_CRC64, decodeStreamFooter, STREAM_FOOTER_SIZE, STREAM_HEADER_SIZE } from './stream-flags.js';

const require = createRequire(import.meta.url);

/** One compressed Block, ready to be placed in a Stream. */
export interface EncodedBlock {
  /** Block Header + Compressed Data + Block Padding + Check. */
  bytes: Buffer;
  unpaddedSize: number;
  uncompressedSize: number;
}

interface LzmaNative {
  createStream(coder: string, options: object): NodeJS.ReadWriteStream;
  FILTER_LZMA2: string;
  CHECK_CRC64: number;
}

let lzmaNative: LzmaNative | undefined;
export function lzma(): LzmaNative {
  lzmaNative ??= require('lzma-native') as LzmaNative;
  return lzmaNative;
}

/** Feeds `input` through an lzma-native coder stream and collects the output. */
export function runCoder(stream: NodeJS.ReadWriteStream, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.end(input);
  });
}

/**
 * Compresses one Block with CRC64. liblzma's single-Block stream encoder
 * writes the Block Header and Check for us; we lift the Block out of that
 * one-Block Stream so the caller can assemble many independently encoded
 * Blocks (on several threads) into one Stream.
 */
export async function encodeBlock(input: Buffer, options: Lzma2Options): Promise<EncodedBlock> {
  if (input.length === 0) throw new RangeError('empty xz Block');
  const l = lzma();
  const stream = l.createStream('streamEncoder', {
    filters: [{ id: l.FILTER_LZMA2, options }],
    check: l.CHECK_CRC64,
    synchronous: false,
  });
  const xz = await runCoder(stream, input);
  const footer = decodeStreamFooter(xz.subarray(xz.length - STREAM_FOOTER_SIZE));
  if ('error' in footer || footer.checkId !== CHECK_CRC64) {
    throw new PackdebugError('E_FORMAT', 'liblzma produced an unexpected stream');
  }
  const indexStart = xz.length - STREAM_FOOTER_SIZE - footer.indexSize;
  const index = decodeIndex(xz.subarray(indexStart, xz.length - STREAM_FOOTER_SIZE));
  if ('error' in index || index.records.length !== 1) {
    throw new PackdebugError('E_FORMAT', 'liblzma produced an unexpected stream index');
  }
  const record = index.records[0]!;
  const blockEnd = STREAM_HEADER_SIZE + padTo4(record.unpaddedSize);
  if (blockEnd !== indexStart || record.uncompressedSize !== input.length) {
    throw new PackdebugError('E_FORMAT', 'liblzma produced an inconsistent Block');
  }
  return { bytes: xz.subarray(STREAM_HEADER_SIZE, blockEnd), ...record };
}
