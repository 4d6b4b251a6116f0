/**
 * XZ Utils' test files (fixtures/xz-conformance, see its README)
 * through packdebug's own container code: readXzLayout for the structure,
 * then every Block through XzRandomAccess (Block Header checked against the
 * Index by decodeBlockHeader, then decoded on its own by decodeBlock).
 * The cases come from the directory listing, so new files are covered.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { PackdebugError } from '../src/errors.js';
import type { EncoderBackend } from '../src/xz/block-encoder.js';
import { decodeBlockHeader } from '../src/xz/block-header.js';
import { readXzLayout } from '../src/xz/file-layout.js';
import { XzRandomAccess } from '../src/xz/random-access.js';
import { XZ_CONFORMANCE } from './helpers/fixtures.js';
import { requireTool } from './helpers/tools.js';

const DIR = XZ_CONFORMANCE;
const files = existsSync(DIR)
  ? readdirSync(DIR)
      .filter((f) => f !== 'README' && !f.startsWith('.'))
      .sort()
  : [];
const hasXz = requireTool('xz');
const backends: EncoderBackend[] = hasXz ? ['lzma-native', 'xz'] : ['lzma-native'];

type Kind = 'good' | 'bad' | 'unsupported' | 'lzip' | 'lzma';
function kindOf(file: string): Kind | undefined {
  if (file.endsWith('.lz')) return 'lzip';
  if (file.endsWith('.lzma')) return 'lzma';
  if (!file.endsWith('.xz')) return undefined;
  const m = /^(good|bad|unsupported)-/.exec(file);
  return m ? (m[1] as Kind) : undefined;
}

/**
 * Bad files that our code rejects as E_UNSUPPORTED rather than E_FORMAT, and why.
 * bad-1-stream_flags-1.xz: Stream Header says CRC32, Stream Footer says Check ID 2.
 * readXzLayout reads from the end, so it meets the (reserved) Check ID in the
 * footer before it can compare the footer's flags with the header's.
 */
const BAD_BUT_UNSUPPORTED = new Set<string>();

/** Everything our container code does with a file: layout, then every Block decoded and checked. */
async function decodeAll(
  file: string,
  backend: EncoderBackend,
): Promise<{ data: Buffer; indexTotal: number; blocks: number }> {
  const xz = await XzRandomAccess.open(file, { backend });
  try {
    const parts: Buffer[] = [];
    let indexTotal = 0;
    for (let i = 0; i < xz.layout.blocks.length; i++) {
      const b = xz.layout.blocks[i]!;
      const data = await xz.readBlock(i);
      if (data.length !== b.uncompressedSize)
        throw new Error(`Block ${i}: ${data.length} bytes, Index says ${b.uncompressedSize}`);
      parts.push(data);
      indexTotal += b.uncompressedSize;
    }
    expect(indexTotal).toBe(xz.size);
    const data = Buffer.concat(parts);
    // read() over everything goes through the same Blocks (served from the cache).
    expect((await xz.read(0, xz.size)).equals(data)).toBe(true);
    expect(xz.blocksDecoded).toBe(xz.layout.blocks.length);
    return { data, indexTotal, blocks: xz.layout.blocks.length };
  } finally {
    await xz.close();
  }
}

async function failure(p: Promise<unknown>): Promise<PackdebugError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected an error').toBeDefined();
  expect(err).toBeInstanceOf(PackdebugError);
  return err as PackdebugError;
}

describe('xz conformance files', () => {
  it('are there', () => {
    expect(existsSync(DIR), `${DIR} is missing`).toBe(true);
    expect(files.length).toBeGreaterThan(50);
    for (const f of files)
      expect(kindOf(f), `${f}: no rule for this name (good-/bad-/unsupported-*.xz, *.lz, *.lzma)`).toBeDefined();
  });

  for (const f of files) {
    const file = path.join(DIR, f);
    const kind = kindOf(f);

    if (kind === 'good') {
      it.skipIf(!hasXz)(`${f} decodes as xz -dc does`, async () => {
        const expected = Buffer.from(
          (await execa('xz', ['-dc', file], { encoding: 'buffer', stripFinalNewline: false })).stdout,
        );
        for (const backend of backends) {
          const { data, indexTotal } = await decodeAll(file, backend);
          expect(indexTotal, backend).toBe(expected.length);
          expect(data.equals(expected), backend).toBe(true);
        }
        // Prefix decodes of every Block agree with the whole Block.
        const xz = await XzRandomAccess.open(file, { cacheBytes: 0 });
        try {
          for (let i = 0; i < xz.layout.blocks.length; i++) {
            const b = xz.layout.blocks[i]!;
            const n = Math.max(1, Math.floor(b.uncompressedSize / 3));
            const prefix = await xz.readBlockPrefix(i, n);
            expect(
              prefix.equals(
                expected.subarray(b.uncompressedOffset, b.uncompressedOffset + Math.min(n, b.uncompressedSize)),
              ),
            ).toBe(true);
          }
        } finally {
          await xz.close();
        }
      });
    } else if (kind === 'bad') {
      it(`${f} is rejected`, async () => {
        for (const backend of backends) {
          const err = await failure(decodeAll(file, backend));
          expect(err.message, backend).toContain(file);
          expect(err.file).toBe(file);
          if (BAD_BUT_UNSUPPORTED.has(f)) expect(['E_FORMAT', 'E_UNSUPPORTED']).toContain(err.code);
          else expect(err.code, `${backend}: ${err.message}`).toBe('E_FORMAT');
        }
      });
    } else if (kind === 'unsupported') {
      it(`${f} is reported as unsupported`, async () => {
        for (const backend of backends) {
          const err = await failure(decodeAll(file, backend));
          expect(err.message).toContain(file);
          expect(err.code, `${backend}: ${err.message}`).toBe('E_UNSUPPORTED');
        }
      });
    } else if (kind === 'lzip' || kind === 'lzma') {
      it(`${f} is reported as ${kind} data, not xz`, async () => {
        const err = await failure(XzRandomAccess.open(file));
        expect(err.code).toBe('E_FORMAT');
        expect(err.message).toBe(`${file}: is ${kind} data, not xz`);
        // readXzLayout alone rejects it too, as something that is not xz.
        const fh = await fs.open(file);
        try {
          const bare = await failure(readXzLayout(fh, file));
          expect(bare.code).toBe('E_FORMAT');
          expect(bare.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*not xz`));
        } finally {
          await fh.close();
        }
      });
    }
  }
});

describe('Block Headers of the conformance files, on their own', () => {
  // The first Block Header of these one-Stream files starts right after the Stream Header.
  const header = (f: string) => decodeBlockHeader(readFileSync(path.join(DIR, f)).subarray(12));
  const headerFiles = files.filter((f) =>
    /^(bad-1-(block_header|vli)-|unsupported-(block_header|filter_flags))/.test(f),
  );

  // bad-1-block_header-1/-2 are also caught earlier, by readXzLayout: their
  // Index still gives the Block the size it had before the header was cut.
  for (const f of headerFiles) {
    it(`${f}: decodeBlockHeader says ${f.startsWith('bad') ? 'corrupt' : 'unsupported'}`, () => {
      const h = header(f);
      expect(h).toHaveProperty('error');
      if (f.startsWith('bad')) expect(h).not.toHaveProperty('unsupported', true);
      else expect(h).toHaveProperty('unsupported', true);
    });
  }

  it('rejects VLIs and sizes for the reasons the README gives', () => {
    expect(header('bad-1-vli-1.xz')).toMatchObject({
      error: expect.stringMatching(/Uncompressed Size: .*superfluous zero/),
    });
    expect(header('bad-1-vli-2.xz')).toMatchObject({
      error: expect.stringMatching(/Uncompressed Size: .*longer than 9 bytes/),
    });
    expect(header('bad-1-block_header-4.xz')).toMatchObject({ error: 'Compressed Size is too large' });
    expect(header('bad-1-block_header-5.xz')).toMatchObject({ error: 'Compressed Size is zero' });
    expect(header('bad-1-block_header-3.xz')).toMatchObject({ error: 'Block Header CRC32 mismatch' });
    expect(header('bad-1-block_header-6.xz')).toMatchObject({ error: expect.stringMatching(/Index Indicator/) });
    expect(header('unsupported-filter_flags-1.xz')).toMatchObject({
      error: expect.stringMatching(/0x7f/),
      unsupported: true,
    });
  });

  it('reads the good ones', () => {
    expect(header('good-1-block_header-1.xz')).toMatchObject({
      headerSize: 16,
      compressedSize: 17,
      uncompressedSize: 13,
      filters: [{ id: 0x21 }],
    });
    expect(header('good-1-3delta-lzma2.xz')).toMatchObject({
      filters: [{ id: 3 }, { id: 3 }, { id: 3 }, { id: 0x21 }],
    });
    expect(header('good-1-arm64-lzma2-2.xz')).toMatchObject({
      filters: [{ id: 0x0a, props: Buffer.from([0x00, 0xf0, 0xff, 0xff]) }, { id: 0x21 }],
    });
  });
});
