import { PackdebugError } from '../errors.js';
import { decodeIndex, padTo4 } from './index.js';
import { loadLzmaNative, noXzBackend } from './lzma-native.js';
import type { Lzma2Options } from './lzma2-options.js';
import { CHECK_CRC64, decodeStreamFooter, STREAM_FOOTER_SIZE, STREAM_HEADER_SIZE } from './stream-flags.js';
import { parseXzVersion, runXz, XzMissingError } from './xz-process.js';

/** One compressed Block, ready to be placed in a Stream. */
export interface EncodedBlock {
  /** Block Header + Compressed Data + Block Padding + Check. */
  bytes: Buffer;
  unpaddedSize: number;
  uncompressedSize: number;
}

/**
 * Who compresses a Block. Both produce the same bytes for the same LZMA2
 * options (liblzma's encoder output has not changed since 5.0), but the
 * liblzma 5.2.3 bundled in lzma-native's prebuilt binding encodes at well
 * under half the speed of a current xz(1) (measured: docs/layout.md), so
 * `auto` runs the system's xz when there is one. Portage itself needs xz,
 * so every Gentoo system has it. 'lzma-native' where the addon cannot load
 * (lzma-native.ts) is xz(1): the same bytes.
 */
export type EncoderBackend = 'xz' | 'lzma-native';
export type EncoderChoice = EncoderBackend | 'auto';

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

let xzProbe: Promise<string | undefined> | undefined;

/** The system xz's version when it is usable (5.0 or later on PATH), else undefined. */
export function findXz(): Promise<string | undefined> {
  xzProbe ??= (async () => {
    try {
      const r = await runXz(['--robot', '--version'], { timeoutMs: 10_000 });
      const found = r.code === 0 ? parseXzVersion(r.stdout.toString()) : undefined;
      return found?.usable ? found.version : undefined;
    } catch {
      return undefined;
    }
  })();
  return xzProbe;
}

/**
 * The backend that compresses: `choice` when it is there. lzma-native that
 * cannot load gives way to xz(1) (the same bytes); xz(1) asked for but
 * missing is a usage error; neither there names what to install.
 */
export async function resolveEncoder(choice: EncoderChoice = 'auto'): Promise<EncoderBackend> {
  if (choice === 'lzma-native' && loadLzmaNative()) return choice;
  const xz = await findXz();
  if (xz) return 'xz';
  if (choice === 'xz')
    throw new PackdebugError('E_USAGE', 'encoder xz requested but no usable xz (XZ Utils 5.0 or later) is on PATH');
  if (loadLzmaNative()) return 'lzma-native';
  throw noXzBackend('encode');
}

function xzFilterArgument(o: Lzma2Options): string {
  const mode = o.mode === 1 ? 'fast' : 'normal';
  const mf = ({ 3: 'hc3', 4: 'hc4', 0x14: 'bt4' } as Record<number, string>)[o.mf] ?? 'bt4';
  return (
    `--lzma2=dict=${o.dictSize},lc=${o.lc},lp=${o.lp},pb=${o.pb},` +
    `mode=${mode},nice=${o.niceLen},mf=${mf},depth=${o.depth}`
  );
}

async function encodeStream(input: Buffer, options: Lzma2Options, backend: EncoderBackend): Promise<Buffer> {
  const l = backend === 'lzma-native' ? loadLzmaNative() : undefined;
  if (!l) {
    // --threads=1: single-threaded mode writes exactly one Block, as liblzma's stream encoder does.
    const args = [
      '--format=xz',
      '--check=crc64',
      '--threads=1',
      xzFilterArgument(options),
      '--stdout',
      '--quiet',
      '--no-warn',
    ];
    const r = await runXz(args, { input }).catch((err: Error) => {
      // lzma-native asked for, and xz(1) standing in for it, missing too.
      if (err instanceof XzMissingError && backend === 'lzma-native') throw noXzBackend('encode');
      throw new PackdebugError('E_IO', err.message, { cause: err });
    });
    if (r.code !== 0) throw new PackdebugError('E_IO', `xz failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }
  const stream = l.createStream('streamEncoder', {
    filters: [{ id: l.FILTER_LZMA2, options }],
    check: l.CHECK_CRC64,
    synchronous: false,
  });
  return runCoder(stream, input);
}

/**
 * Compresses one Block with CRC64. The encoder writes a one-Block Stream
 * (Block Header and Check included); we lift the Block out of it so the
 * caller can assemble many independently encoded Blocks into one Stream.
 */
export async function encodeBlock(
  input: Buffer,
  options: Lzma2Options,
  backend: EncoderBackend = 'lzma-native',
): Promise<EncodedBlock> {
  if (input.length === 0) throw new RangeError('empty xz Block');
  const xz = await encodeStream(input, options, backend);
  const footer = decodeStreamFooter(xz.subarray(xz.length - STREAM_FOOTER_SIZE));
  if ('error' in footer || footer.checkId !== CHECK_CRC64) {
    throw new PackdebugError('E_FORMAT', `the ${backend} encoder produced an unexpected stream`);
  }
  const indexStart = xz.length - STREAM_FOOTER_SIZE - footer.indexSize;
  const index = decodeIndex(xz.subarray(indexStart, xz.length - STREAM_FOOTER_SIZE));
  if ('error' in index || index.records.length !== 1) {
    throw new PackdebugError('E_FORMAT', `the ${backend} encoder produced an unexpected stream index`);
  }
  const record = index.records[0]!;
  const blockEnd = STREAM_HEADER_SIZE + padTo4(record.unpaddedSize);
  if (blockEnd !== indexStart || record.uncompressedSize !== input.length) {
    throw new PackdebugError('E_FORMAT', `the ${backend} encoder produced an inconsistent Block`);
  }
  return { bytes: xz.subarray(STREAM_HEADER_SIZE, blockEnd), ...record };
}
