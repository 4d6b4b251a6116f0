import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { decodeBlock } from '../src/xz/block-decoder.js';
import { encodeBlock } from '../src/xz/block-encoder.js';
import { isTruncatedXzMagic, readXzLayout, sniffFormat, sniffFormatStrict } from '../src/xz/file-layout.js';
import { XzRandomAccess } from '../src/xz/random-access.js';
import { PackdebugError } from '../src/errors.js';
import { crc32 } from '../src/xz/crc32.js';
import { decodeIndex, decodeIndexTable, encodeIndex, minUnpaddedSize, padTo4 } from '../src/xz/index.js';
import { dictSizeFor, parsePreset, presetOptions } from '../src/xz/lzma2-options.js';
import {
  decodeStreamFooter,
  decodeStreamHeader,
  encodeStreamFooter,
  encodeStreamHeader,
} from '../src/xz/stream-flags.js';
import { decodeVli, encodeVli } from '../src/xz/vli.js';
import { tmpdir } from './helpers/images.js';
import { cliPeakRss } from './helpers/peak-rss.js';
import { requireTool } from './helpers/tools.js';

const hasXz = requireTool('xz');

describe('xz variable-length integers', () => {
  it('round-trips values up to 2^53', () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      const enc = encodeVli(v);
      expect(decodeVli(enc, 0)).toEqual({ value: v, size: enc.length });
    }
  });
  it('rejects superfluous zero bytes, truncation and over-long integers', () => {
    expect(decodeVli(Buffer.from([0x80, 0x00]), 0)).toHaveProperty('error');
    expect(decodeVli(Buffer.from([0x80]), 0)).toHaveProperty('error');
    expect(decodeVli(Buffer.alloc(10, 0x81), 0)).toHaveProperty('error');
  });
});

describe('Stream Header, Stream Footer, Index', () => {
  it('encodes and decodes', () => {
    expect(decodeStreamHeader(encodeStreamHeader(4))).toEqual({ checkId: 4 });
    const index = encodeIndex([
      { unpaddedSize: 100, uncompressedSize: 2000 },
      { unpaddedSize: 7, uncompressedSize: 0 },
    ]);
    expect(index.length % 4).toBe(0);
    expect(decodeIndex(index)).toEqual({
      records: [
        { unpaddedSize: 100, uncompressedSize: 2000 },
        { unpaddedSize: 7, uncompressedSize: 0 },
      ],
    });
    expect(decodeStreamFooter(encodeStreamFooter(4, index.length))).toEqual({ checkId: 4, indexSize: index.length });
  });
  it('rejects corrupt headers, footers and indexes', () => {
    const header = encodeStreamHeader(4);
    header[7] = 0x14; // reserved bit
    expect(decodeStreamHeader(header)).toMatchObject({ error: expect.stringContaining('') });
    const footer = encodeStreamFooter(4, 8);
    footer[5] ^= 1;
    expect(decodeStreamFooter(footer)).toMatchObject({ error: expect.stringContaining('CRC32') });
    const index = encodeIndex([{ unpaddedSize: 100, uncompressedSize: 2000 }]);
    index[2] ^= 0x01;
    expect(decodeIndex(index)).toHaveProperty('error');
    // A record count that could not fit in the Index must not make us loop or allocate.
    const huge = Buffer.concat([Buffer.from([0]), encodeVli(2 ** 40), Buffer.alloc(3)]);
    expect(decodeIndex(Buffer.concat([huge.subarray(0, 8), Buffer.alloc(4)]))).toHaveProperty('error');
  });
});

describe('LZMA2 presets', () => {
  it('parses 0-9 and 0e-9e and nothing else', () => {
    expect(parsePreset('6')).toEqual({ level: 6, extreme: false });
    expect(parsePreset('9e')).toEqual({ level: 9, extreme: true });
    expect(parsePreset(undefined)).toEqual({ level: 6, extreme: false });
    for (const bad of ['10', 'e', '6x', '', '-'])
      if (bad !== '') expect(() => parsePreset(bad)).toThrow(/invalid preset/);
  });
  it('matches liblzma preset 6 and sizes dictionaries to the Block', () => {
    expect(presetOptions({ level: 6, extreme: false })).toMatchObject({
      dictSize: 8 << 20,
      niceLen: 64,
      mf: 0x14,
      mode: 2,
    });
    expect(dictSizeFor(10_000, 8 << 20)).toBe(12 << 10);
    expect(dictSizeFor(2 << 20, 8 << 20)).toBe(2 << 20);
    expect(dictSizeFor(100 << 20, 8 << 20)).toBe(8 << 20);
  });
});

describe('Block encoder backends', () => {
  it.skipIf(!hasXz)('xz(1) and lzma-native write byte-identical Blocks that decode back', async () => {
    const input = Buffer.concat(
      Array.from({ length: 2000 }, (_, i) => Buffer.from(`line ${i} ${(i * 7919) % 1000}\n`)),
    );
    const options = { ...presetOptions({ level: 6, extreme: false }), dictSize: dictSizeFor(input.length, 8 << 20) };
    const [a, b] = await Promise.all([encodeBlock(input, options, 'lzma-native'), encodeBlock(input, options, 'xz')]);
    expect(a.bytes.equals(b.bytes)).toBe(true);
    const info = {
      stream: 0,
      fileOffset: 12,
      unpaddedSize: a.unpaddedSize,
      totalSize: a.bytes.length,
      uncompressedOffset: 0,
      uncompressedSize: input.length,
      checkId: 4,
    };
    expect((await decodeBlock(a.bytes, info, 'x', 'lzma-native')).equals(input)).toBe(true);
    expect((await decodeBlock(a.bytes, info, 'x', 'xz')).equals(input)).toBe(true);
    const corrupt = Buffer.from(a.bytes);
    corrupt[corrupt.length - 3] ^= 0xff; // inside the CRC64
    await expect(decodeBlock(corrupt, info, 'x', 'lzma-native')).rejects.toThrow(/corrupt/);
    await expect(decodeBlock(corrupt, info, 'x', 'xz')).rejects.toThrow(/corrupt/);
  });
});

describe('readXzLayout', () => {
  const layoutOf = async (file: string) => {
    const fh = await fs.open(file);
    try {
      return await readXzLayout(fh, file);
    } finally {
      await fh.close();
    }
  };

  it.skipIf(!hasXz)('reads Blocks of multi-Block files, concatenated Streams and Stream Padding', async () => {
    const dir = await tmpdir('xz-layout');
    const data = path.join(dir, 'data');
    await fs.writeFile(data, Buffer.concat(Array.from({ length: 4000 }, (_, i) => Buffer.from(`${i}\n`.repeat(50)))));
    await execa('xz', ['-k', '-T2', '--block-size=100KiB', data]);
    const one = await layoutOf(`${data}.xz`);
    expect(one.streams).toHaveLength(1);
    expect(one.blocks.length).toBeGreaterThan(1);
    expect(one.footerLast).toBe(true);
    expect(one.uncompressedSize).toBe((await fs.stat(data)).size);
    // Two Streams with Stream Padding between and after them.
    const xz = await fs.readFile(`${data}.xz`);
    const cat = path.join(dir, 'cat.xz');
    await fs.writeFile(cat, Buffer.concat([xz, Buffer.alloc(8), xz, Buffer.alloc(4)]));
    const two = await layoutOf(cat);
    expect(two.streams).toHaveLength(2);
    expect(two.blocks).toHaveLength(one.blocks.length * 2);
    expect(two.blocks[one.blocks.length]!.uncompressedOffset).toBe(one.uncompressedSize);
    expect(two.footerLast).toBe(false);
    await execa('xz', ['-t', cat]);
  });

  it('rejects truncated, bit-flipped and foreign files with the file name', async () => {
    const dir = await tmpdir('xz-bad');
    const good = Buffer.concat([encodeStreamHeader(4), encodeIndex([]), encodeStreamFooter(4, 8)]);
    const cases: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /empty file/],
      ['gzip', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), /gzip data, not xz/],
      ['truncated', good.subarray(0, good.length - 1), /footer|truncated/i],
      [
        'flipped',
        Buffer.concat([good.subarray(0, 14), Buffer.from([good[14]! ^ 1]), good.subarray(15)]),
        /Index|CRC32/,
      ],
      ['odd padding', Buffer.concat([good, Buffer.alloc(3)]), /./],
    ];
    for (const [name, bytes, pattern] of cases) {
      const file = path.join(dir, `${name}.xz`);
      await fs.writeFile(file, bytes);
      const err = await layoutOf(file).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, name).toBeDefined();
      expect(err!.message).toContain(file);
      expect(err!.message).toMatch(pattern);
    }
    const ok = path.join(dir, 'ok.xz');
    await fs.writeFile(ok, good);
    expect((await layoutOf(ok)).blocks).toHaveLength(0);
  });
});

describe('files of 0 to 12 bytes', () => {
  const good = Buffer.concat([encodeStreamHeader(4), encodeIndex([]), encodeStreamFooter(4, 8)]);
  const heads = (n: number): [string, Buffer][] => [
    [`${n} bytes of xz`, good.subarray(0, n)],
    [`${n} bytes of 0x28`, Buffer.alloc(n, 0x28)],
    [`${n} zero bytes`, Buffer.alloc(n)],
    [`${n} bytes of zstd magic`, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0]).subarray(0, n)],
  ];

  it('sniffers read no byte past the end (a 1-3 byte file was a RangeError)', () => {
    for (let n = 0; n <= 12; n++) {
      for (const [what, head] of heads(n)) {
        expect(() => sniffFormat(head), what).not.toThrow();
        expect(() => sniffFormatStrict(head), what).not.toThrow();
      }
    }
    expect(sniffFormat(Buffer.from([0x28, 0xb5, 0x2f]))).toBeUndefined();
    expect(isTruncatedXzMagic(good.subarray(0, 3))).toBe(true);
    expect(isTruncatedXzMagic(good.subarray(0, 6))).toBe(false);
    expect(isTruncatedXzMagic(Buffer.alloc(0))).toBe(false);
  });

  const rejectsShortFiles =
    'readXzLayout and XzRandomAccess.open reject each as damaged or foreign data (E_FORMAT), never a RangeError';
  it(rejectsShortFiles, async () => {
    const dir = await tmpdir('xz-short');
    for (let n = 0; n <= 12; n++) {
      for (const [what, bytes] of heads(n)) {
        const file = path.join(dir, `${what}.xz`);
        await fs.writeFile(file, bytes);
        const fh = await fs.open(file);
        const err = await readXzLayout(fh, file)
          .then(
            () => undefined,
            (e: unknown) => e,
          )
          .finally(() => fh.close());
        expect(err, what).toBeInstanceOf(PackdebugError);
        expect((err as PackdebugError).code, what).toBe('E_FORMAT');
        if (n > 0 && what.includes('of xz')) expect((err as Error).message, what).toMatch(/truncated/);
        const ra = await XzRandomAccess.open(file).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(ra, what).toBeInstanceOf(PackdebugError);
        expect((ra as PackdebugError).code, what).toBe('E_FORMAT');
      }
    }
  });
});

describe('LZMA2 data size bounds (an Index checked without decoding)', () => {
  it('hold for what the encoders write, from empty to highly compressible and incompressible data', async () => {
    const { randomBytes } = await import('node:crypto');
    const { lzma2DataBounds } = await import('../src/xz/block-header.js');
    expect(lzma2DataBounds(0)).toEqual([1, 1]);
    for (const input of [
      Buffer.alloc(1),
      randomBytes(1),
      randomBytes(7),
      randomBytes(100),
      randomBytes(70_000),
      Buffer.alloc(5 << 20),
    ]) {
      const options = { ...presetOptions({ level: 6, extreme: false }), dictSize: dictSizeFor(input.length, 8 << 20) };
      const block = await encodeBlock(input, options, 'lzma-native');
      const header = block.bytes[0]! * 4 + 4;
      const data = block.unpaddedSize - header - 8; // CRC64
      const [min, max] = lzma2DataBounds(input.length);
      expect(data, `${input.length} bytes`).toBeGreaterThanOrEqual(min);
      expect(data, `${input.length} bytes`).toBeLessThanOrEqual(max);
    }
  });
});

/**
 * An xz file (CRC64) whose Index lists `count` Blocks of `unpadded` bytes
 * over a hole: sparse, so only the Index takes room on disk, and every
 * Block Header is zeros (bogus).
 */
async function writeHugeIndex(file: string, count: number, unpadded: number): Promise<void> {
  const record = Buffer.concat([encodeVli(unpadded), encodeVli(1)]);
  const head = Buffer.concat([Buffer.from([0]), encodeVli(count)]);
  const size = padTo4(head.length + count * record.length) + 4;
  const index = Buffer.alloc(size);
  head.copy(index, 0);
  for (let at = head.length; at < head.length + count * record.length; at += record.length) record.copy(index, at);
  index.writeUInt32LE(crc32(index.subarray(0, size - 4)), size - 4);
  const fh = await fs.open(file, 'w');
  try {
    await fh.write(encodeStreamHeader(4), 0, 12, 0);
    const indexOffset = 12 + count * padTo4(unpadded);
    await fh.write(index, 0, index.length, indexOffset);
    await fh.write(encodeStreamFooter(4, index.length), 0, 12, indexOffset + index.length);
  } finally {
    await fh.close();
  }
}

describe('an Index listing millions of Blocks (issue 12, item 9)', () => {
  it('counts every record at the smallest Block it can be: header, one byte of data, Check', () => {
    expect(minUnpaddedSize(0)).toBe(9);
    expect(minUnpaddedSize(1)).toBe(13);
    expect(minUnpaddedSize(4)).toBe(17);
    expect(minUnpaddedSize(10)).toBe(41);
    // Two records of 17 bytes (CRC64) take 40 bytes with their padding.
    const index = encodeIndex([
      { unpaddedSize: 17, uncompressedSize: 1 },
      { unpaddedSize: 17, uncompressedSize: 1 },
    ]);
    expect(decodeIndexTable(index, { minUnpaddedSize: 17, blocksSpace: 40 })).toMatchObject({ count: 2 });
    expect(decodeIndexTable(index, { minUnpaddedSize: 17, blocksSpace: 39 })).toMatchObject({
      error: expect.stringMatching(/Index lists 2 Blocks, more than the 39 bytes before it can hold/),
    });
    expect(decodeIndexTable(index, { minUnpaddedSize: 18 })).toMatchObject({
      error: 'Index record 0: Unpadded Size 17 is too small',
    });
  });

  it('is refused from its record count when the file cannot hold that many Blocks', async () => {
    const dir = await tmpdir('xz-huge-index');
    // A million records of 5 bytes (the spec's bare minimum, 8 with padding) fit the 8 MB hole;
    // real Blocks (at least 20 bytes with CRC64) would not.
    const file = path.join(dir, 'claims.xz');
    await writeHugeIndex(file, 1_000_000, 5);
    const fh = await fs.open(file);
    const err = await readXzLayout(fh, file)
      .then(
        () => undefined,
        (e: unknown) => e,
      )
      .finally(() => fh.close());
    expect(err).toBeInstanceOf(PackdebugError);
    expect((err as PackdebugError).code).toBe('E_FORMAT');
    expect((err as Error).message).toBe(
      `${file}: Index lists 1000000 Blocks, more than the 8000000 bytes before it can hold (a Block takes at least 20)`,
    );
  });

  const boundedMemory =
    'costs a bounded amount of memory a record when the file could hold them: 3 million under 250 MB peak RSS';
  it(
    boundedMemory,
    async () => {
      const dir = await tmpdir('xz-huge-index-rss');
      const file = path.join(dir, 'three-million.tar.xz');
      await writeHugeIndex(file, 3_000_000, 17);
      const { result, peakRss } = await cliPeakRss(['list', file]);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(`${file}: Block at offset 12 has a bad Block Header`);
      expect(peakRss).toBeLessThan(250e6);
    },
    120_000,
  );
});
