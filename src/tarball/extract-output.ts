/** Where extract writes a member: an atomically written file, or standard output at a pipe's pace. */
import path from 'node:path';
import { fromSystemError } from '../errors.js';
import type { TarEntry } from '../tar/parse.js';
import type { Sink } from './reader.js';

/** Standard output, or any stream written in chunks. */
export interface OutputStream {
  write(chunk: string | Uint8Array): unknown;
}

/** Members up to this size go to stdout from the pass that found them (larger ones are read again, Block by Block). */
export const STDOUT_HOLD_MAX = 16 << 20;
export const STDOUT_SLICE = 64 << 10;

/** Holds the last member begun, up to `limit` bytes, so stdout can have it without a second decode. */
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

/** Standard output as a Sink that lets a slow reader (a pipe) set the pace, Block by Block. */
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
        : Promise.resolve(),
  };
}

/** An atomically written output file fed through a Sink; only the last member begun is kept. */
export async function outputFile(
  output: string,
): Promise<{ sink: Sink; commit(): Promise<void>; abort(): Promise<void> }> {
  const { AtomicFile } = await import('../util/atomic.js');
  const file = await AtomicFile.create(path.resolve(output));
  let writing = Promise.resolve();
  let position = 0;
  let failure: unknown;
  const sink: Sink = {
    begin() {
      position = 0;
      writing = writing.then(() => file.fh.truncate(0)).catch((err) => void (failure ??= err));
    },
    write(chunk) {
      const at = position;
      position += chunk.length;
      const copy = Buffer.from(chunk);
      writing = writing.then(async () => {
        if (failure === undefined) await file.fh.write(copy, 0, copy.length, at).catch((err) => void (failure ??= err));
      });
    },
    drained: () => writing,
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
