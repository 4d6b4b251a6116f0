/** Where extract writes a member: an atomically written file, or a stream (stdout, a device, a FIFO) at its pace. */
import { constants, createWriteStream, fstatSync, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fromSystemError, PackdebugError } from '../errors.js';
import type { TarEntry } from '../tar/parse.js';
import type { Sink } from './reader.js';

/** Standard output, or any stream written in chunks. */
export interface OutputStream {
  write(chunk: string | Uint8Array): unknown;
}

/** Members up to this size go to a stream from the pass that found them (larger ones are read again). */
export const STDOUT_HOLD_MAX = 16 << 20;
export const STDOUT_SLICE = 64 << 10;
/** Bytes queued for the output file before the decoder waits for the disk. */
const FILE_QUEUE_MAX = 4 << 20;

/**
 * Holds the last member begun, up to `limit` bytes, so a stream can have it
 * without a second decode; a larger member is declined at its header.
 */
export function memorySink(limit: number): { sink: Sink; dataOf(entry: TarEntry): Buffer | undefined } {
  let current: TarEntry | undefined;
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    sink: {
      begin(entry) {
        current = entry.size <= limit ? entry : undefined;
        chunks = [];
        size = 0;
        if (!current) return false;
      },
      write(chunk) {
        if (!current) return;
        chunks.push(Buffer.from(chunk));
        size += chunk.length;
      },
    },
    dataOf: (entry) =>
      current && current.headerOffset === entry.headerOffset && size === entry.size
        ? Buffer.concat(chunks, size)
        : undefined,
  };
}

/** A stream as a Sink that lets a slow reader (a pipe) set the pace: producers wait while it needs a drain. */
export function stdoutSink(stdout: OutputStream): Sink {
  const stream = stdout as Partial<NodeJS.WritableStream> & { writableNeedDrain?: boolean; destroyed?: boolean };
  return {
    write: (chunk) => void stdout.write(chunk),
    drained: () =>
      stream.writableNeedDrain && !stream.destroyed && typeof stream.once === 'function'
        ? new Promise<void>((resolve) => {
            const done = () => {
              stream.off?.('drain', done);
              stream.off?.('close', done);
              resolve();
            };
            stream.once!('drain', done);
            stream.once!('close', done);
          })
        : undefined,
  };
}

/**
 * What `-o` names: 'stdout' (none, `-`, or this process's standard
 * output: `/dev/stdout`, or a symlink to the file it is open on);
 * 'replace' (a new or regular file, or a symlink to one: the file, at
 * `path`, is replaced atomically, the link kept, as cp writes through a
 * link); 'into' (a character device or a FIFO, also through a symlink:
 * opened and written, never replaced). A block device, a socket or a
 * dangling symlink is refused: nothing is written.
 */
export type OutputPlan = { kind: 'stdout' } | { kind: 'replace'; path: string } | { kind: 'into'; path: string };

/** The names of this process's standard output (written through the stream the command already has). */
const STDOUT_NAMES = new Set(['/dev/stdout', '/dev/fd/1', '/proc/self/fd/1', `/proc/${process.pid}/fd/1`]);

/** The file this process's standard output is open on (a pipe, a socket, a terminal), by device and inode. */
function isStdout(st: Stats): boolean {
  const out = (() => {
    try {
      return fstatSync(1);
    } catch {
      return undefined;
    }
  })();
  return out !== undefined && out.dev === st.dev && out.ino === st.ino;
}

export async function planOutput(output: string | undefined): Promise<OutputPlan> {
  if (output === undefined || output === '-') return { kind: 'stdout' };
  const resolved = path.resolve(output);
  if (STDOUT_NAMES.has(resolved)) return { kind: 'stdout' };
  const lst = await fs.lstat(resolved).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw fromSystemError(err, output, 'looking at the output');
  });
  if (!lst || lst.isFile() || lst.isDirectory()) return { kind: 'replace', path: resolved };
  let st: Stats = lst;
  if (lst.isSymbolicLink()) {
    st = await fs.stat(resolved).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT')
        throw new PackdebugError('E_INPUT', `${output}: a symlink to nothing; give the file to write`, {
          file: output,
        });
      throw fromSystemError(err, output, 'looking at the output');
    });
    if (isStdout(st)) return { kind: 'stdout' };
    // As cp does: the file the link names is written (here replaced atomically), the link kept.
    if (st.isFile()) return { kind: 'replace', path: await fs.realpath(resolved) };
    if (st.isDirectory()) return { kind: 'replace', path: resolved };
  }
  if (isStdout(st)) return { kind: 'stdout' };
  if (st.isCharacterDevice() || st.isFIFO()) return { kind: 'into', path: resolved };
  const what = st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
  throw new PackdebugError(
    'E_INPUT',
    `${output}: is ${what}; -o writes a regular file (replaced atomically), a character device or a FIFO`,
    { file: output },
  );
}

/**
 * Opens a character device or a FIFO for writing. A FIFO's open waits for
 * a reader, as any writer's does. Checked again after opening: what was
 * looked at may have been swapped for something else meanwhile.
 */
export async function openOutputStream(
  output: string,
  plan: { path: string },
): Promise<{ stream: NodeJS.WritableStream; sink: Sink; finish(): Promise<void> }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(plan.path, constants.O_WRONLY | constants.O_NOCTTY);
  } catch (err) {
    throw fromSystemError(err, output, 'opening the output');
  }
  const st = await fh.stat();
  if (!st.isCharacterDevice() && !st.isFIFO()) {
    await fh.close();
    throw new PackdebugError('E_INPUT', `${output}: changed while being opened; not written`, { file: output });
  }
  const stream = createWriteStream('', { fd: fh.fd, autoClose: false });
  let failure: unknown;
  stream.on('error', (err) => void (failure ??= err));
  const sink = stdoutSink(stream);
  return {
    stream,
    sink: {
      write: (chunk) => (failure === undefined ? sink.write(chunk) : undefined),
      drained: () => (failure === undefined ? sink.drained!() : undefined),
    },
    async finish() {
      if (failure === undefined && !stream.destroyed)
        await new Promise<void>((resolve) => stream.end(() => resolve())).catch(() => undefined);
      await fh.close().catch(() => undefined);
      if (failure !== undefined) throw fromSystemError(failure, output, 'writing the output');
    },
  };
}

/**
 * An atomically written output file fed through a Sink; only the last member
 * begun is kept. At most FILE_QUEUE_MAX bytes wait for the disk: beyond
 * that, `drained` holds the producer back.
 */
export async function outputFile(
  output: string,
  target: string = path.resolve(output),
): Promise<{ sink: Sink; commit(): Promise<void>; abort(): Promise<void> }> {
  const { AtomicFile } = await import('../util/atomic.js');
  const file = await AtomicFile.create(target);
  let writing = Promise.resolve();
  let position = 0;
  let queued = 0;
  let failure: unknown;
  const sink: Sink = {
    begin() {
      position = 0;
      writing = writing.then(() => file.fh.truncate(0)).catch((err) => void (failure ??= err));
    },
    write(chunk) {
      const at = position;
      position += chunk.length;
      queued += chunk.length;
      const copy = Buffer.from(chunk);
      writing = writing.then(async () => {
        if (failure === undefined) await file.fh.write(copy, 0, copy.length, at).catch((err) => void (failure ??= err));
        queued -= copy.length;
      });
    },
    drained: () => (queued > FILE_QUEUE_MAX ? writing : undefined),
  };
  return {
    sink,
    async commit() {
      await writing;
      if (failure !== undefined) throw fromSystemError(failure, output, 'writing the output');
      await file.fh.chmod(0o644);
      await file.commit();
    },
    abort: () => file.abort(),
  };
}
