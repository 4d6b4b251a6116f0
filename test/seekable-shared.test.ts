/**
 * Several seekable xz writers sharing encoder slots and a Block budget (as
 * from-binpkg runs them): they all finish, even with one permit, and each
 * writes exactly the bytes it writes alone.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { limiter, semaphore } from '../src/util/limit.js';
import { parsePreset, presetOptions } from '../src/xz/lzma2-options.js';
import { writeSeekableXz } from '../src/xz/seekable-writer.js';
import { decodeSequential } from '../src/xz/sequential.js';
import { tmpdir } from './helpers/images.js';

const lzma = presetOptions(parsePreset('1'));

async function* blocks(seed: number, count: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) yield Buffer.concat([Buffer.alloc(4096, seed + i), randomBytes(64)]);
}

async function write(
  file: string,
  inputs: Buffer[],
  opts: Partial<Parameters<typeof writeSeekableXz>[2]> = {},
): Promise<Buffer> {
  const fh = await fs.open(file, 'w+');
  try {
    await writeSeekableXz(
      fh,
      (async function* () {
        yield* inputs;
      })(),
      { lzma, encoder: 'lzma-native', threads: 3, ...opts },
    );
  } finally {
    await fh.close();
  }
  return fs.readFile(file);
}

describe('seekable writers sharing slots and a Block budget', () => {
  it.each([1, 2, 7])('finish with %i permit(s) and write the same bytes as alone', async (permits) => {
    const dir = await tmpdir('seekable-shared');
    const inputs: Buffer[][] = [];
    for (let w = 0; w < 4; w++) {
      const list: Buffer[] = [];
      for await (const b of blocks(w * 16, 3 + w * 2)) list.push(b);
      inputs.push(list);
    }
    const alone = await Promise.all(inputs.map((list, w) => write(path.join(dir, `alone-${w}.xz`), list)));
    const sharedSlots = limiter(2);
    const sharedBudget = semaphore(permits);
    const together = await Promise.all(
      inputs.map((list, w) => write(path.join(dir, `shared-${w}.xz`), list, { sharedSlots, sharedBudget })),
    );
    together.forEach((bytes, w) => expect(bytes.equals(alone[w]!)).toBe(true));
    // All permits came back.
    for (let i = 0; i < permits; i++) expect(sharedBudget.tryAcquire()).toBe(true);
    expect(sharedBudget.tryAcquire()).toBe(false);
    // And the output decodes to the inputs.
    const out: Buffer[] = [];
    await decodeSequential(path.join(dir, 'shared-3.xz'), (c) => {
      out.push(Buffer.from(c));
    });
    expect(Buffer.concat(out).equals(Buffer.concat(inputs[3]!))).toBe(true);
  });
});
