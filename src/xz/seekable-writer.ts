import type { FileHandle } from 'node:fs/promises';
import { encodeBlock, type EncodedBlock, type EncoderBackend } from './block-encoder.js';
import { encodeIndex, type IndexRecord } from './index.js';
import type { Lzma2Options } from './lzma2-options.js';
import { dictSizeFor } from './lzma2-options.js';
import { limiter, type Semaphore } from '../util/limit.js';
import { CHECK_CRC64, encodeStreamFooter, encodeStreamHeader } from './stream-flags.js';

export interface SeekableWriteOptions {
  lzma: Lzma2Options;
  encoder: EncoderBackend;
  /** Blocks compressed at once. */
  threads: number;
  /**
   * A limiter shared with other writers running at the same time (from-binpkg
   * converts several binpkgs at once): each Block also takes one of its slots,
   * so the encoders of all writers together stay within the machine's cores.
   */
  sharedSlots?: <T>(task: () => Promise<T>) => Promise<T>;
  /**
   * Blocks held in memory (read, being compressed or waiting to be written)
   * by all concurrent writers together: each Block takes a permit before it
   * is queued and returns it once written, so that memory stays bounded
   * however many writers run. No deadlock: a queued Block never waits for a permit.
   */
  sharedBudget?: Semaphore;
  /** Called after each Block's bytes are written at `fileOffset` (to read it back). */
  onWritten?: (fileOffset: number, record: IndexRecord) => void;
  /** Called after each Block is written (for progress). */
  onBlock?: (done: number, uncompressedDone: number) => void;
}

export interface SeekableWriteResult {
  records: IndexRecord[];
  fileSize: number;
}

/**
 * Writes one xz Stream whose Blocks are the given inputs, compressed
 * independently (up to `threads` at once) and written in order, then the
 * Index and the Stream Footer, which ends the file. The output depends only
 * on the inputs and the LZMA2 options, never on the thread count.
 */
export async function writeSeekableXz(
  out: FileHandle,
  inputs: AsyncIterable<Buffer>,
  opts: SeekableWriteOptions,
): Promise<SeekableWriteResult> {
  let position = 0;
  const write = async (buf: Buffer) => {
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await out.write(buf, done, buf.length - done, position + done);
      done += bytesWritten;
    }
    position += buf.length;
  };
  await write(encodeStreamHeader(CHECK_CRC64));

  const records: IndexRecord[] = [];
  // Blocks finish out of order (a large one takes seconds); keep every
  // encoder busy and write in order, with a bounded number of Blocks in memory.
  const ownSlot = limiter(opts.threads);
  const shared = opts.sharedSlots;
  const encodeSlot = <T>(task: () => Promise<T>) => ownSlot(() => (shared ? shared(task) : task()));
  const maxInMemory = opts.threads * 2 + 1;
  const inFlight: Promise<EncodedBlock>[] = [];
  let uncompressedDone = 0;
  const budget = opts.sharedBudget;
  let held = 0;
  const writeNext = async () => {
    const block = await inFlight.shift()!;
    const at = position;
    await write(block.bytes);
    if (budget) {
      held--;
      budget.release();
    }
    const record = { unpaddedSize: block.unpaddedSize, uncompressedSize: block.uncompressedSize };
    records.push(record);
    opts.onWritten?.(at, record);
    uncompressedDone += block.uncompressedSize;
    opts.onBlock?.(records.length, uncompressedDone);
  };
  try {
    for await (const input of inputs) {
      while (inFlight.length >= maxInMemory) await writeNext();
      if (budget) {
        // No permit free: write our own oldest Blocks first (each returns a permit); only a
        // writer with nothing in flight waits, so permits are never held by a waiting writer.
        let got = budget.tryAcquire();
        while (!got && inFlight.length > 0) {
          await writeNext();
          got = budget.tryAcquire();
        }
        if (!got) await budget.acquire();
        held++;
      }
      const options = { ...opts.lzma, dictSize: dictSizeFor(input.length, opts.lzma.dictSize) };
      const encoding = encodeSlot(() => encodeBlock(input, options, opts.encoder));
      encoding.catch(() => undefined); // awaited in order by writeNext; avoid an unhandled rejection meanwhile
      inFlight.push(encoding);
    }
    while (inFlight.length > 0) await writeNext();
  } finally {
    // On failure, let running encoders finish before the caller removes the file.
    await Promise.allSettled(inFlight);
    for (; held > 0; held--) budget!.release();
  }
  const index = encodeIndex(records);
  await write(index);
  await write(encodeStreamFooter(CHECK_CRC64, index.length));
  return { records, fileSize: position };
}
