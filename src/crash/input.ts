/**
 * Opens what `packdebug core` is given: an ELF file read in place, or a core
 * compressed by systemd-coredump (zstd, xz or lz4, told by its magic bytes)
 * streamed once through the decompressor. From the stream only the ranges
 * the core reader asks for are kept (its headers, notes, and the ELF header
 * pages of its modules): nothing is unpacked to disk, and memory stays
 * bounded whatever the size of the core.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { PackdebugError, fromSystemError } from '../errors.js';
import { ElfCapture, UNKNOWN_SIZE } from '../elf/capture.js';
import { coreModules } from '../elf/core-modules.js';
import { readCore } from '../elf/core.js';
import { fdSource, type ByteSource } from '../elf/index.js';

export type Compression = 'zstd' | 'xz' | 'lz4';

const MAGICS: Array<[Compression, Buffer, string[]]> = [
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), ['zstd', '-dcq']],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), ['xz', '-dcq']],
  ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18]), ['lz4', '-dcq']],
];

/** Bytes kept from the head of a decompressed core before its reader asks for more. */
const CORE_HEAD_BYTES = 256 * 1024;
/** Ceiling on what one decompressed core keeps in memory. */
const CORE_MAX_RETAINED = 256 * 1024 * 1024;

export interface OpenedInput {
  file: string;
  source: ByteSource;
  compression?: Compression;
  close(): Promise<void>;
}

/** What the capture of a compressed core asks for: all the core reader and module search read. */
function inspectCore(src: ByteSource): void {
  const core = readCore(src);
  if (!('notCore' in core)) coreModules(core, src);
}

export async function openInput(file: string, env: NodeJS.ProcessEnv): Promise<OpenedInput> {
  const fh = await fs.open(file, 'r').catch((err: unknown) => {
    throw fromSystemError(err, file, 'opening');
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new PackdebugError('E_INPUT', `${file}: not a regular file`, { file });
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const magic = MAGICS.find(([, m]) => bytesRead >= m.length && head.subarray(0, m.length).equals(m));
    if (!magic) return { file, source: fdSource(fh.fd, st.size), close: () => fh.close() };
    const [compression, , argv] = magic;
    const source = await decompressed(fh, file, argv, env);
    await fh.close();
    return { file, source, compression, close: async () => undefined };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/** Streams the file through `argv` (reading stdin), keeping what the core reader asks for. */
async function decompressed(
  fh: fs.FileHandle,
  file: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<ByteSource> {
  const capture = new ElfCapture(UNKNOWN_SIZE, {
    inspect: inspectCore,
    headBytes: CORE_HEAD_BYTES,
    maxRetained: CORE_MAX_RETAINED,
  });
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  const input = fh.createReadStream({ start: 0, autoClose: false });
  input.pipe(child.stdin);
  child.stdin.on('error', () => undefined); // the decompressor may stop reading (bad data): its status tells
  try {
    for await (const chunk of child.stdout) capture.push(chunk as Buffer);
    const code = await exited;
    if (code !== 0) {
      const why = stderr.trim().split('\n').pop() || `exit status ${code}`;
      throw new PackdebugError('E_FORMAT', `${file}: ${argv[0]} could not decompress it: ${why}`, { file });
    }
  } catch (err) {
    child.kill();
    input.destroy();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new PackdebugError('E_INPUT', `${file}: is ${argv[0]}-compressed, and ${argv[0]}(1) is not installed`, {
        file,
      });
    throw err;
  }
  return capture.finished();
}
