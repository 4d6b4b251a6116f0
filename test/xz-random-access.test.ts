import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { PackdebugError } from '../src/errors.js';
import { checkBlockHeaderAgainstIndex, decodeBlockHeader, lzma2DictSize } from '../src/xz/block-header.js';
import { crc32 } from '../src/xz/crc32.js';
import { XzRandomAccess } from '../src/xz/random-access.js';
import { encodeVli } from '../src/xz/vli.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasXz = requireTool('xz');

/** Deterministic pseudo-random numbers (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** Text that compresses to about a third: words from a small vocabulary with random numbers. */
function text(bytes: number, seed: number): Buffer {
  const r = rng(seed);
  const words = ['debug', 'info', 'build-id', 'section', '.debug_line', 'symbol', 'offset', 'gentoo', 'xz', 'block'];
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const s = `${words[Math.floor(r() * words.length)]} ${Math.floor(r() * 1e6).toString(16)}${r() < 0.1 ? '\n' : ' '}`;
    parts.push(s);
    n += s.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

/** Bytes that barely compress. */
function noise(bytes: number, seed: number): Buffer {
  const r = rng(seed);
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Math.floor(r() * 256);
  return out;
}

async function xz(dir: string, name: string, data: Buffer, args: string[]): Promise<string> {
  const file = path.join(dir, name);
  const r = await execa('xz', ['-c', ...args], { input: data, encoding: 'buffer' });
  await fs.writeFile(file, r.stdout);
  return file;
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err, 'expected an error').toBeDefined();
  return err!;
}

describe.skipIf(!hasXz)('XzRandomAccess', () => {
  let dir: string;
  let data: Buffer; // in multi.xz
  let data2: Buffer; // second Stream of cat.xz
  let big: Buffer; // one 2 MiB Block in big.xz
  let multi: string;
  let cat: string;
  let bigFile: string;

  beforeAll(async () => {
    dir = await tmpdir('xz-random-access');
    data = text(1_500_000, 1);
    data2 = text(700_000, 2);
    big = Buffer.concat([noise(1 << 20, 3), text(1 << 20, 4)]);
    // Threaded xz writes both sizes into every Block Header; single-threaded
    // --block-size leaves them out. Both kinds are read.
    multi = await xz(dir, 'multi.xz', data, ['-T2', '--block-size=64KiB']);
    const second = await fs.readFile(
      await xz(dir, 'second.xz', data2, ['-T1', '--block-size=100KiB', '--check=crc32']),
    );
    cat = path.join(dir, 'cat.xz');
    await fs.writeFile(cat, Buffer.concat([await fs.readFile(multi), Buffer.alloc(8), second, Buffer.alloc(4)]));
    bigFile = await xz(dir, 'big.xz', big, ['-T1', '-6']);
  });

  it('reads the layout of multi-Block files and concatenated Streams', async () => {
    const a = await XzRandomAccess.open(multi);
    const b = await XzRandomAccess.open(cat);
    try {
      expect(a.size).toBe(data.length);
      expect(a.layout.blocks.length).toBe(Math.ceil(data.length / 65536));
      expect(b.layout.streams).toHaveLength(2);
      expect(b.layout.streams[0]!.padding).toBe(8);
      expect(b.size).toBe(data.length + data2.length);
      expect(b.layout.blocks.at(-1)!.checkId).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('random reads equal slices of the original, on one and on two Streams', async () => {
    for (const [file, original] of [
      [multi, data],
      [cat, Buffer.concat([data, data2])],
    ] as const) {
      const x = await XzRandomAccess.open(file, { cacheBytes: 1 << 20 });
      try {
        const r = rng(42);
        const cases: [number, number][] = [
          [0, 0],
          [0, 1],
          [0, original.length],
          [original.length - 1, 1],
          [original.length, 0],
          [65535, 2], // across a Block boundary
          [65536 * 3 - 10, 65536 * 2 + 20], // three and a bit Blocks
          // across the Stream boundary
          [data.length - 5, 10].map((v) => Math.min(v, original.length - 10)) as [number, number],
        ];
        for (let i = 0; i < 150; i++) {
          const offset = Math.floor(r() * original.length);
          const length = Math.floor(r() * Math.min(original.length - offset, r() < 0.8 ? 5000 : 300_000));
          cases.push([offset, length]);
        }
        for (const [offset, length] of cases) {
          const got = await x.read(offset, length);
          expect(got.length).toBe(length);
          expect(got.equals(original.subarray(offset, offset + length)), `read(${offset}, ${length})`).toBe(true);
        }
        expect(x.cachedBytes).toBeLessThanOrEqual(1 << 20);
      } finally {
        await x.close();
      }
    }
  });

  it('decodes only the Blocks that cover the range', async () => {
    const x = await XzRandomAccess.open(cat, { cacheBytes: 0 });
    try {
      const blocks = x.layout.blocks;
      for (const [offset, length] of [
        [10, 100],
        [65530, 12],
        [200_000, 150_000],
        [data.length - 3, 6],
        [x.size - 1, 1],
      ] as const) {
        const before = { bytes: x.bytesDecoded, blocks: x.blocksDecoded };
        const covering = blocks.filter(
          (b) => b.uncompressedOffset < offset + length && b.uncompressedOffset + b.uncompressedSize > offset,
        );
        expect(x.blocksCovering(offset, length).map((i) => blocks[i])).toEqual(covering);
        await x.read(offset, length);
        expect(x.blocksDecoded - before.blocks, `read(${offset}, ${length})`).toBe(covering.length);
        expect(x.bytesDecoded - before.bytes).toBe(covering.reduce((n, b) => n + b.uncompressedSize, 0));
      }
    } finally {
      await x.close();
    }
  });

  it('caches decoded Blocks (LRU, bounded by bytes) and decodes a Block once for concurrent readers', async () => {
    const x = await XzRandomAccess.open(multi, { cacheBytes: 150 << 10 });
    try {
      await Promise.all([x.read(100, 10), x.read(200, 10), x.read(60_000, 5000)]);
      expect(x.blocksDecoded).toBe(1);
      await x.read(300, 10);
      expect(x.blocksDecoded).toBe(1);
      for (let i = 0; i < x.layout.blocks.length; i++) await x.readBlock(i);
      expect(x.blocksDecoded).toBe(x.layout.blocks.length); // Block 0 came from the cache
      expect(x.cachedBytes).toBeLessThanOrEqual(150 << 10);
      // the last two Blocks
      expect(x.cachedBytes).toBe(x.layout.blocks.slice(-2).reduce((n, b) => n + b.uncompressedSize, 0));
      await x.read(0, 1); // evicted long ago
      expect(x.blocksDecoded).toBe(x.layout.blocks.length + 1);
      // What the caller gets is its own copy.
      const a = await x.read(0, 4);
      a.fill(0);
      expect((await x.read(0, 4)).equals(data.subarray(0, 4))).toBe(true);
    } finally {
      await x.close();
    }
  });

  it('refuses reads past the end (PackdebugError E_FORMAT) and bad arguments (RangeError)', async () => {
    const x = await XzRandomAccess.open(multi);
    try {
      const past = await errorOf(x.read(data.length - 1, 2));
      expect(past).toBeInstanceOf(PackdebugError);
      expect(past).toMatchObject({ code: 'E_FORMAT', file: multi });
      expect(past.message).toContain(multi);
      expect(x.blocksDecoded).toBe(0);
      await expect(x.read(data.length + 1, 0)).rejects.toMatchObject({ code: 'E_FORMAT' });
      await expect(x.read(-1, 1)).rejects.toBeInstanceOf(RangeError);
      await expect(x.read(1.5, 1)).rejects.toBeInstanceOf(RangeError);
      await expect(x.readBlock(x.layout.blocks.length)).rejects.toBeInstanceOf(RangeError);
      await expect(x.readBlockPrefix(0, -1)).rejects.toBeInstanceOf(RangeError);
    } finally {
      await x.close();
    }
  });

  it('readBlockPrefix stops early on a 2 MiB Block', async () => {
    const x = await XzRandomAccess.open(bigFile, { cacheBytes: 0 });
    try {
      expect(x.layout.blocks).toHaveLength(1);
      const block = x.layout.blocks[0]!;
      expect(block.uncompressedSize).toBe(2 << 20);
      let t = performance.now();
      const prefix = await x.readBlockPrefix(0, 4096);
      const prefixMs = performance.now() - t;
      expect(prefix.equals(big.subarray(0, 4096))).toBe(true);
      expect(x.prefixDecodes).toBe(1);
      // Feeds sized for 4 KiB at the Block's average ratio, doubling, with a little read-ahead.
      expect(x.compressedBytesRead).toBeLessThanOrEqual(64 << 10);
      expect(x.bytesDecoded).toBeLessThan(64 << 10);
      const early = `read ${x.compressedBytesRead} of ${block.totalSize} compressed bytes, decoded ${x.bytesDecoded}`;

      // A prefix into the compressible second half: still far from the whole Block.
      const before = x.bytesDecoded;
      const deeper = await x.readBlockPrefix(0, (1 << 20) + 1000);
      expect(deeper.equals(big.subarray(0, (1 << 20) + 1000))).toBe(true);
      expect(x.bytesDecoded - before).toBeLessThan((1 << 20) + (512 << 10));

      t = performance.now();
      const whole = await x.readBlock(0);
      const wholeMs = performance.now() - t;
      expect(whole.equals(big)).toBe(true);
      console.log(
        `2 MiB Block: 4 KiB prefix ${prefixMs.toFixed(1)} ms (${early}), whole Block ${wholeMs.toFixed(1)} ms`,
      );
      // Prefix larger than the Block: the whole Block, verified.
      expect((await x.readBlockPrefix(0, 3 << 20)).equals(big)).toBe(true);
    } finally {
      await x.close();
    }
  });

  it('the xz(1) backend reads the same', async () => {
    const x = await XzRandomAccess.open(cat, { backend: 'xz' });
    try {
      expect((await x.read(65_000, 200_000)).equals(data.subarray(65_000, 265_000))).toBe(true);
      expect(
        (await x.read(data.length - 10, 20)).equals(
          Buffer.concat([data, data2.subarray(0, 10)]).subarray(data.length - 10),
        ),
      ).toBe(true);
    } finally {
      await x.close();
    }
  });

  describe('corrupt Blocks are rejected with the file name and the Block offset', () => {
    const K = 3; // the damaged Block
    const corrupt = async (
      name: string,
      damage: (buf: Buffer, b: { fileOffset: number; unpaddedSize: number; headerSize: number }) => void,
    ) => {
      const bytes = await fs.readFile(multi);
      const probe = await XzRandomAccess.open(multi);
      const b = probe.layout.blocks[K]!;
      await probe.close();
      const h = decodeBlockHeader(bytes.subarray(b.fileOffset));
      if ('error' in h) throw new Error(h.error);
      damage(bytes, { ...b, headerSize: h.headerSize });
      const file = path.join(dir, name);
      await fs.writeFile(file, bytes);
      return { file, block: b };
    };

    const expectRejected = async (file: string, fileOffset: number, pattern: RegExp) => {
      const x = await XzRandomAccess.open(file, { cacheBytes: 0 });
      try {
        const offset = K * 65536 + 100;
        const err = await errorOf(x.read(offset, 10));
        expect(err).toBeInstanceOf(PackdebugError);
        expect((err as PackdebugError).code).toBe('E_FORMAT');
        expect((err as PackdebugError).file).toBe(file);
        expect(err.message).toContain(`${file}: Block at offset ${fileOffset} `);
        expect(err.message).toMatch(pattern);
        // The Blocks around it still read.
        expect((await x.read(offset - 65536, 10)).equals(data.subarray(offset - 65536, offset - 65526))).toBe(true);
        expect((await x.read(offset + 65536, 10)).equals(data.subarray(offset + 65536, offset + 65546))).toBe(true);
        return x.blocksDecoded;
      } finally {
        await x.close();
      }
    };

    it('a bit flip in the Compressed Data', async () => {
      const { file, block } = await corrupt('flip-data.xz', (buf, b) => {
        buf[b.fileOffset + b.headerSize + 2000]! ^= 0x10;
      });
      await expectRejected(file, block.fileOffset, /corrupt/);
    });

    it('a bit flip in the Block Header (caught before decoding)', async () => {
      const { file, block } = await corrupt('flip-header.xz', (buf, b) => {
        buf[b.fileOffset + 2]! ^= 0x01; // inside Compressed Size
      });
      await expectRejected(file, block.fileOffset, /Block Header CRC32 mismatch/);
      const x = await XzRandomAccess.open(file);
      try {
        await expect(x.readBlockPrefix(K, 10)).rejects.toThrow(/Block at offset \d+ has a bad Block Header/);
        expect(x.blocksDecoded).toBe(0);
      } finally {
        await x.close();
      }
    });

    it('a bit flip in the Check', async () => {
      const { file, block } = await corrupt('flip-check.xz', (buf, b) => {
        buf[b.fileOffset + b.unpaddedSize - 1]! ^= 0x80;
      });
      await expectRejected(file, block.fileOffset, /corrupt/);
    });

    it('a Block Header whose sizes disagree with the Index', async () => {
      const { file, block } = await corrupt('header-size.xz', (buf, b) => {
        // Re-encode the header with Uncompressed Size one smaller and a valid CRC32.
        const h = decodeBlockHeader(buf.subarray(b.fileOffset));
        if ('error' in h || h.uncompressedSize === undefined) throw new Error('expected sizes in the header');
        const fields = Buffer.concat([
          Buffer.from([buf[b.fileOffset + 1]!]),
          encodeVli(h.compressedSize!),
          encodeVli(h.uncompressedSize - 1),
        ]);
        const filters = buf.subarray(
          b.fileOffset + 2 + encodeVli(h.compressedSize!).length + encodeVli(h.uncompressedSize).length,
          b.fileOffset + b.headerSize - 4,
        );
        const body = Buffer.concat([Buffer.from([buf[b.fileOffset]!]), fields, filters]);
        expect(body.length).toBe(b.headerSize - 4);
        body.copy(buf, b.fileOffset);
        buf.writeUInt32LE(crc32(body), b.fileOffset + b.headerSize - 4);
      });
      await expectRejected(
        file,
        block.fileOffset,
        /disagrees with the Index: Block Header says Uncompressed Size 65535, Index says 65536/,
      );
    });
  });
});

describe('decodeBlockHeader', () => {
  /** A Block Header with the given flags byte and body, padded and with its CRC32. */
  const header = (flags: number, body: number[], padding: number[] = []) => {
    const raw = [0, flags, ...body];
    const size = Math.ceil((raw.length + padding.length + 4) / 4) * 4;
    const buf = Buffer.alloc(size);
    Buffer.from(raw).copy(buf);
    Buffer.from(padding).copy(buf, raw.length);
    buf[0] = size / 4 - 1;
    buf.writeUInt32LE(crc32(buf.subarray(0, size - 4)), size - 4);
    return buf;
  };
  const LZMA2 = [0x21, 0x01, 0x16];

  it('decodes sizes and filter chains', () => {
    expect(decodeBlockHeader(header(0x00, LZMA2))).toEqual({
      headerSize: 12,
      filters: [{ id: 0x21, props: Buffer.from([0x16]) }],
    });
    expect(decodeBlockHeader(header(0xc0, [0x80, 0x01, 0x05, ...LZMA2]))).toMatchObject({
      compressedSize: 128,
      uncompressedSize: 5,
    });
    for (const id of [4, 5, 6, 7, 8, 9, 10, 11]) {
      expect(decodeBlockHeader(header(0x01, [id, 0x00, ...LZMA2])), `BCJ ${id}`).toMatchObject({
        filters: [{ id }, { id: 0x21 }],
      });
      expect(decodeBlockHeader(header(0x01, [id, 0x04, 0, 0x10, 0, 0, ...LZMA2])), `BCJ ${id} start`).toMatchObject({
        filters: [{ id, props: Buffer.from([0, 0x10, 0, 0]) }, { id: 0x21 }],
      });
    }
    expect(decodeBlockHeader(header(0x03, [3, 1, 0, 3, 1, 1, 4, 0, ...LZMA2]))).toMatchObject({
      filters: [{ id: 3 }, { id: 3 }, { id: 4 }, { id: 0x21 }],
    });
    expect(lzma2DictSize(0)).toBe(4096);
    expect(lzma2DictSize(0x16)).toBe(8 << 20);
    expect(lzma2DictSize(40)).toBe(0xffffffff);
  });

  it('rejects damage as corrupt and unknown features as unsupported', () => {
    const corrupt: [string, Buffer, RegExp][] = [
      ['Index Indicator', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]), /Index Indicator/],
      ['truncated', header(0x00, LZMA2).subarray(0, 7), /truncated/],
      ['CRC32', Buffer.from(header(0x00, LZMA2)).fill(0x17, 3, 4), /CRC32/],
      ['compressed size zero', header(0x40, [0x00, ...LZMA2]), /Compressed Size is zero/],
      ['props past the header', header(0x00, [0x21, 0x09, 0x16]), /extend past/],
      [
        'VLI too long',
        header(0x80, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, ...LZMA2]),
        /longer than 9 bytes/,
      ],
      ['misaligned BCJ start', header(0x01, [0x05, 0x04, 2, 0, 0, 0, ...LZMA2]), /not a multiple of 4/],
    ];
    for (const [what, buf, pattern] of corrupt) {
      const r = decodeBlockHeader(buf);
      expect(r, what).toHaveProperty('error');
      expect((r as { error: string }).error, what).toMatch(pattern);
      expect(r, what).not.toHaveProperty('unsupported');
    }
    const unsupported: [string, Buffer][] = [
      ['reserved flag bits', header(0x04, LZMA2)],
      ['non-zero Header Padding', header(0x00, LZMA2, [0, 1])],
      ['unknown filter', header(0x01, [0x42, 0x00, ...LZMA2])],
      ['LZMA2 not last', header(0x01, [...LZMA2, ...LZMA2])],
      ['Delta last', header(0x00, [0x03, 0x01, 0x00])],
      ['LZMA2 dictionary over 4 GiB', header(0x00, [0x21, 0x01, 41])],
      ['LZMA2 reserved bits', header(0x00, [0x21, 0x01, 0x56])],
      ['LZMA2 props size', header(0x00, [0x21, 0x02, 0x16, 0x00])],
      ['Delta props size', header(0x01, [0x03, 0x00, ...LZMA2])],
      ['BCJ props size', header(0x01, [0x04, 0x02, 0, 0, ...LZMA2])],
    ];
    for (const [what, buf] of unsupported) expect(decodeBlockHeader(buf), what).toMatchObject({ unsupported: true });
  });

  it('checks the header against the Index record', () => {
    const h = decodeBlockHeader(header(0xc0, [0x20, 0x40, ...LZMA2]));
    if ('error' in h) throw new Error(h.error);
    expect(h.headerSize).toBe(12);
    // 12 header + 32 compressed + 8 CRC64 = 52
    expect(checkBlockHeaderAgainstIndex(h, { unpaddedSize: 52, uncompressedSize: 64, checkId: 4 })).toBeUndefined();
    expect(checkBlockHeaderAgainstIndex(h, { unpaddedSize: 56, uncompressedSize: 64, checkId: 4 })).toMatch(
      /Compressed Size 32, Index implies 36/,
    );
    expect(checkBlockHeaderAgainstIndex(h, { unpaddedSize: 52, uncompressedSize: 65, checkId: 4 })).toMatch(
      /Uncompressed Size 64, Index says 65/,
    );
    expect(checkBlockHeaderAgainstIndex(h, { unpaddedSize: 20, uncompressedSize: 64, checkId: 4 })).toMatch(/too few/);
  });
});
