/**
 * Compressions of binpkg payloads and the external tools that undo them,
 * as Portage's lib/portage/util/compression_probe.py knows them: Portage
 * itself pipes image and metadata tars through these commands, so a binhost
 * that made a binpkg has the tool that reads it.
 */
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { PackdebugError } from '../errors.js';
import { xzEnvironment } from '../xz/xz-process.js';
import { DEFAULT_LIMITS, limitError } from './limits.js';

export type Compression = 'zstd' | 'xz' | 'bzip2' | 'gzip' | 'lz4' | 'lzip' | 'none';

/** File name suffixes (after `.tar`) that GPKG uses, by compression. */
export const COMPRESSION_SUFFIXES: Readonly<Record<string, Compression>> = {
  '': 'none',
  '.zst': 'zstd',
  '.xz': 'xz',
  '.bz2': 'bzip2',
  '.gz': 'gzip',
  '.lz4': 'lz4',
  '.lz': 'lzip',
};

/**
 * Decompression commands, with Portage's flags (`zstd --long=31`: binpkgs
 * made with a large window need it). `-c` keeps every tool on stdout.
 */
export const DECOMPRESSORS: Readonly<
  Record<Exclude<Compression, 'none'>, { command: string; args: readonly string[]; env?: () => NodeJS.ProcessEnv }>
> = {
  zstd: { command: 'zstd', args: ['-d', '-c', '-q', '--long=31'] },
  // XZ_OPT and XZ_DEFAULTS (a memory limit, say) must not fail what Portage's own xz read.
  xz: { command: 'xz', args: ['-d', '-c', '-q'], env: xzEnvironment },
  // bzip2 and lzip say nothing of a corrupt stream when quiet: not -q.
  bzip2: { command: 'bzip2', args: ['-d', '-c'] },
  gzip: { command: 'gzip', args: ['-d', '-c', '-q'] },
  lz4: { command: 'lz4', args: ['-d', '-c', '-q'] },
  lzip: { command: 'lzip', args: ['-d', '-c'] },
};

/** Compression named by the magic bytes at the start of a payload (Portage's probe, bzip2 block sizes 1-9). */
export function compressionFromMagic(head: Uint8Array): Compression | undefined {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const starts = (...bytes: number[]) => bytes.every((v, i) => b[i] === v);
  if (starts(0x42, 0x5a, 0x68) && b[3] !== undefined && b[3] >= 0x31 && b[3] <= 0x39) return 'bzip2';
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x04, 0x22, 0x4d, 0x18) || starts(0x02, 0x21, 0x4c, 0x18)) return 'lz4';
  if (starts(0x4c, 0x5a, 0x49, 0x50)) return 'lzip';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (b[0] !== undefined && b[0] >= 0x22 && b[0] <= 0x28 && starts(b[0], 0xb5, 0x2f, 0xfd)) return 'zstd';
  // An uncompressed tar: "ustar" at offset 257.
  if (b.length >= 262 && b.toString('latin1', 257, 262) === 'ustar') return 'none';
  return undefined;
}

export interface DecompressOptions {
  /** Binpkg the data belongs to, for error messages. */
  file: string;
  /** What is decompressed (`image.tar.zst`), for error messages. */
  what: string;
  signal?: AbortSignal;
  /** Memory the decompressor may use (default DEFAULT_LIMITS.decompressMemory). */
  memoryLimit?: number;
}

const MEMORY_HOW = '--decompress-memory or PACKDEBUG_DECOMPRESS_MEMORY';

/**
 * The flags that cap a decompressor's memory. gzip (32 KiB window), bzip2 (at most 3.7 MB) and lz4
 * (64 KiB window, 4 MiB blocks) need little whatever the input; lzip has no such flag: its
 * dictionary size is checked in the header (lzipDictionarySize).
 */
export function memoryLimitArgs(compression: Exclude<Compression, 'none'>, limit: number): string[] {
  const kib = Math.max(1, Math.floor(limit / 1024));
  if (compression === 'zstd') return [`--memory=${kib}KB`]; // zstd's KB is 1024 bytes; it overrides --long=31's 2 GiB
  if (compression === 'xz') return [`--memlimit-decompress=${kib}KiB`];
  return [];
}

/** The dictionary size an lzip member header (`LZIP`, version, coded size) declares; undefined if not one. */
export function lzipDictionarySize(head: Uint8Array): number | undefined {
  if (head.length < 6 || head[0] !== 0x4c || head[1] !== 0x5a || head[2] !== 0x49 || head[3] !== 0x50) return undefined;
  const coded = head[5]!;
  const base = 2 ** (coded & 0x1f);
  return base - (base / 16) * ((coded >> 5) & 7);
}

/** A decompressor's complaint that the data needs more memory than it may use. */
const OVER_MEMORY_RE = /Memory usage limit reached|requires too much memory|Window size larger than maximum/i;

/**
 * Streams `input` through the decompressor of `compression`. The consumer
 * must read the result to the end (or abort through `signal`); a tool that
 * fails (corrupt or truncated data) makes the stream throw an E_FORMAT
 * error naming the binpkg. A missing tool is an E_UNSUPPORTED error naming it.
 */
export async function* decompress(
  source: Readable,
  compression: Compression,
  opts: DecompressOptions,
): AsyncGenerator<Buffer> {
  let input = source;
  if (compression === 'none') {
    for await (const chunk of input) yield chunk as Buffer;
    return;
  }
  const { command, args, env } = DECOMPRESSORS[compression];
  const memoryLimit = opts.memoryLimit ?? DEFAULT_LIMITS.decompressMemory;
  const overMemory = (detail: string) =>
    limitError(
      opts.file,
      `${opts.what} needs more memory to decompress than allowed (${command}: ${detail})`,
      memoryLimit,
      MEMORY_HOW,
    );
  if (compression === 'lzip') input = await checkLzipHeader(input, memoryLimit, overMemory);
  const child = execa(command, [...args, ...memoryLimitArgs(compression, memoryLimit)], {
    ...(env ? { env: env(), extendEnv: false } : {}),
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    stripFinalNewline: true,
    cancelSignal: opts.signal,
    reject: false,
  });
  // A decompressor that stops early (corrupt data) closes its stdin: EPIPE is expected then.
  child.stdin!.on('error', () => undefined);
  input.on('error', (err) => child.stdin!.destroy(err));
  input.pipe(child.stdin!);
  let finished = false;
  let result: Awaited<typeof child>;
  try {
    for await (const chunk of child.stdout!) yield chunk as Buffer;
    finished = true;
  } finally {
    if (!finished) {
      input.unpipe();
      input.destroy();
      child.kill();
    }
    result = await child;
    input.destroy();
  }
  // Reached only when the output was read to its end (finished): an early return or a read error leaves
  // through the finally above, so the checks below never replace that error.
  const errno = (result.cause as NodeJS.ErrnoException | undefined)?.code ?? (result as { code?: string }).code;
  if (errno === 'ENOENT') {
    throw new PackdebugError(
      'E_UNSUPPORTED',
      `${opts.file}: ${opts.what} needs '${command}' to decompress, and ${command} is not installed (not on PATH)`,
      { file: opts.file },
    );
  }
  if (result.failed) {
    // The first line says what is wrong (bzip2 follows it with advice); without one, the exit status.
    const first = String(result.stderr ?? '')
      .split('\n')
      .find((l) => l.trim() !== '');
    const why = first
      ? first
          .trim()
          .replace(/^[^:]*: /, '')
          .replace(/;$/, '')
      : `exit status ${result.exitCode ?? result.signal ?? 'unknown'}`;
    const memoryLine = String(result.stderr ?? '')
      .split('\n')
      .find((l) => OVER_MEMORY_RE.test(l));
    if (memoryLine !== undefined) throw overMemory(memoryLine.trim().replace(/^.*: /, ''));
    throw new PackdebugError('E_FORMAT', `${opts.file}: ${opts.what} is corrupt or truncated (${command}: ${why})`, {
      file: opts.file,
    });
  }
}

/**
 * Reads the first lzip member header and refuses a dictionary over the limit (lzip has no memory flag);
 * gives back a stream with the bytes read put in front again.
 */
async function checkLzipHeader(
  input: Readable,
  limit: number,
  overMemory: (detail: string) => PackdebugError,
): Promise<Readable> {
  const head: Buffer[] = [];
  let got = 0;
  const iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  while (got < 6) {
    const next = await iterator.next();
    if (next.done) break;
    head.push(next.value);
    got += next.value.length;
  }
  const dict = lzipDictionarySize(Buffer.concat(head));
  if (dict !== undefined && dict > limit) {
    input.destroy();
    throw overMemory(`dictionary of ${dict} bytes`);
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield* head;
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    } finally {
      input.destroy();
    }
  }
  return Readable.from(rest(), { objectMode: false });
}
