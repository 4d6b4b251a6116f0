import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { decodeBlockHeader, FILTER_LZMA2 } from '../src/xz/block-header.js';
import { readXzLayout } from '../src/xz/file-layout.js';
import { decodeLzma2Prefix, Lzma2DataError, NeedMoreInput } from '../src/xz/lzma2-prefix.js';
import { XzRandomAccess } from '../src/xz/random-access.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';
import { XZ_CONFORMANCE } from './helpers/fixtures.js';

const hasXz = requireTool('xz');

/** Every LZMA2-only Block of a file: its Compressed Data and its decoded bytes (by liblzma). */
async function lzma2Blocks(file: string): Promise<{ data: Buffer; decoded: Buffer; name: string }[]> {
  const fh = await fs.open(file);
  try {
    const layout = await readXzLayout(fh, file);
    const ra = await XzRandomAccess.open(file, { backend: 'lzma-native', cacheBytes: 0 });
    try {
      const out = [];
      for (const [i, b] of layout.blocks.entries()) {
        const bytes = Buffer.alloc(b.totalSize);
        await fh.read(bytes, 0, b.totalSize, b.fileOffset);
        const h = decodeBlockHeader(bytes);
        if ('error' in h || h.filters.length !== 1 || h.filters[0]!.id !== FILTER_LZMA2) continue;
        out.push({
          data: bytes.subarray(h.headerSize),
          decoded: await ra.readBlock(i),
          name: `${path.basename(file)} Block ${i}`,
        });
      }
      return out;
    } finally {
      await ra.close();
    }
  } finally {
    await fh.close();
  }
}

describe("decodeLzma2Prefix (the header probes' decoder)", () => {
  it('decodes exactly the requested prefix of every LZMA2 Block of the good conformance files', async () => {
    const goods = (await fs.readdir(XZ_CONFORMANCE)).filter((f) => f.startsWith('good-') && f.endsWith('.xz'));
    let blocks = 0;
    for (const f of goods) {
      for (const b of await lzma2Blocks(path.join(XZ_CONFORMANCE, f)).catch(() => [])) {
        for (const want of [1, 512, 1536, b.decoded.length, b.decoded.length + 100]) {
          const got = decodeLzma2Prefix(b.data, want);
          expect(got.equals(b.decoded.subarray(0, want)), `${b.name}, ${want} bytes`).toBe(true);
        }
        blocks++;
      }
    }
    expect(blocks).toBeGreaterThan(10);
  });

  it.skipIf(!hasXz)('matches xz on uncompressed chunks, long matches, rep matches and large distances', async () => {
    const dir = await tmpdir('lzma2-prefix');
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    const noise = Buffer.from(Array.from({ length: 300_000 }, rand));
    const text = Buffer.from('usr/src/debug/sys-libs/glibc-2.36-r9/'.repeat(20_000));
    // noise (stored as uncompressed chunks), text (long and repeated matches), the noise again (distances of 1 MiB)
    const input = Buffer.concat([noise, text, noise.subarray(0, 50_000)]);
    for (const preset of ['-0', '-6e', '--lzma2=preset=6,lc=0,lp=2,pb=0', '--lzma2=preset=6,lc=4,lp=0']) {
      const file = path.join(dir, 'x.xz');
      await fs.writeFile(file, (await execa('xz', ['-c', '-T1', preset], { input, encoding: 'buffer' })).stdout);
      for (const b of await lzma2Blocks(file)) {
        expect(b.decoded.equals(input)).toBe(true);
        expect(decodeLzma2Prefix(b.data, input.length).equals(input), preset).toBe(true);
      }
    }
  });

  it('asks for more input when cut short and rejects what is not LZMA2, without crashing or hanging', async () => {
    const [b] = await lzma2Blocks(path.join(XZ_CONFORMANCE, 'good-1-lzma2-1.xz'));
    expect(b).toBeDefined();
    expect(() => decodeLzma2Prefix(b!.data.subarray(0, 20), b!.decoded.length)).toThrow(NeedMoreInput);
    // invalid control byte
    expect(() => decodeLzma2Prefix(Buffer.from([0x03, 0, 0]), 10)).toThrow(Lzma2DataError);
    // no dictionary reset first
    expect(() => decodeLzma2Prefix(Buffer.from([0x02, 0, 0, 0x41]), 10)).toThrow(Lzma2DataError);
    // bad properties
    expect(() => decodeLzma2Prefix(Buffer.from([0xe0, 0, 0, 0, 4, 0xff, 0, 0, 0, 0, 0]), 10)).toThrow(Lzma2DataError);
    // Every single-byte corruption of a real Block: a result, NeedMoreInput or Lzma2DataError.
    const data = Buffer.from(b!.data.subarray(0, 400));
    for (let i = 0; i < data.length; i++) {
      const bad = Buffer.from(data);
      bad[i] ^= 0x55;
      try {
        decodeLzma2Prefix(bad, 4096);
      } catch (err) {
        expect(err instanceof NeedMoreInput || err instanceof Lzma2DataError, String(err)).toBe(true);
      }
    }
  });
});
