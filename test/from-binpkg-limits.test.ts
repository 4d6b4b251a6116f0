/**
 * Issue 12 item 8: from-binpkg's resource caps. Hostile binpkgs of a few KB
 * (hand-made zstd frames of RLE blocks, a patched xz Block Header, a patched
 * lzip header) that would fill the disk or take gigabytes of memory fail with
 * an error naming the binpkg and the cap, the others are packed, exit 1.
 * Memory is the peak RSS of the CLI and its decompressor (`time -f %M`:
 * wait4 gives the largest of the process and its reaped children).
 */
import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lzipDictionarySize, memoryLimitArgs } from '../src/binpkg/compression.js';
import { binpkgLimits, DEFAULT_LIMITS, SPILL_FLOOR, spillAllowance } from '../src/binpkg/limits.js';
import { openBinpkg } from '../src/binpkg/binpkg.js';
import {
  gpkgFromPayloads,
  makeGpkg,
  makeXpak,
  metadataTar,
  xzDeclaringDictionary,
  zeroTarParts,
  zstdFrame,
  type ZstdPart,
} from './helpers/binpkg.js';
import { makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasTools = ['tar', 'zstd', 'xz', 'lzip', 'bzip2'].every((t) => requireTool(t)) && requireTool('time');
const CLI = path.resolve(__dirname, '../dist/cli.js');
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
/** Peak RSS allowed for one from-binpkg run over these binpkgs (node itself takes 60-110 MB). */
const RSS_BOUND_KB = 200 * 1024;

const id = (pf: string) => ({ category: 'app-misc', pf, buildNumber: '1' });

async function fromBinpkg(files: string[], extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const dir = await tmpdir('limits-run');
  const spill = path.join(dir, 'spill');
  await fs.mkdir(spill);
  const r = await execa(
    '/usr/bin/time',
    [
      '-f',
      'peak-rss-kb %M',
      'node',
      CLI,
      'from-binpkg',
      ...files,
      '--out',
      path.join(dir, 'tree'),
      '--tmpdir',
      spill,
      ...extra,
    ],
    { reject: false, env: { PACKDEBUG_CACHE_DIR: '', ...env } },
  );
  const m = /peak-rss-kb (\d+)\s*$/.exec(r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('packdebug: '));
  return {
    exitCode: r.exitCode,
    stdout: r.stdout,
    errors: lines,
    peakKb: Number(m?.[1]),
    spillLeft: await fs.readdir(spill),
  };
}

/** A GPKG whose image payload is the given zstd parts (window 2^windowLog), metadata plain zstd. */
async function zstdGpkg(
  dir: string,
  pf: string,
  image: ZstdPart[],
  windowLog = 20,
  metadata?: Buffer,
): Promise<string> {
  return gpkgFromPayloads(path.join(dir, `${pf}-1.gpkg.tar`), {
    basename: `${pf}-1`,
    suffix: '.zst',
    metadata: zstdFrame([{ raw: metadata ?? metadataTar(id(pf)) }]),
    image: zstdFrame(image, windowLog),
  });
}

describe('limits: settings and arithmetic', () => {
  it('defaults, environment, options over environment, refusals', () => {
    expect(binpkgLimits({})).toEqual(DEFAULT_LIMITS);
    const env = { PACKDEBUG_MAX_SPILL: '1G', PACKDEBUG_MAX_SPILL_RATIO: '20', PACKDEBUG_DECOMPRESS_MEMORY: '64MiB' };
    expect(binpkgLimits(env)).toEqual({
      ...DEFAULT_LIMITS,
      spillBytes: GiB,
      spillRatio: 20,
      decompressMemory: 64 * MiB,
    });
    expect(binpkgLimits(env, { maxSpill: '2G', maxMetadata: '1M' })).toMatchObject({
      spillBytes: 2 * GiB,
      metadataBytes: MiB,
    });
    expect(() => binpkgLimits({ PACKDEBUG_MAX_SPILL: 'lots' })).toThrow(/PACKDEBUG_MAX_SPILL=lots: not a size/);
    expect(() => binpkgLimits({}, { maxSpillRatio: '-3' })).toThrow(/--max-spill-ratio -3: not a positive number/);
    expect(() => binpkgLimits({}, { decompressMemory: '0' })).toThrow(/--decompress-memory 0: must be more than 0/);
  });

  it('the spill cap: RATIO times the binpkg, at least the floor, at most the absolute cap', () => {
    expect(spillAllowance(150_000, DEFAULT_LIMITS)).toBe(SPILL_FLOOR);
    expect(spillAllowance(1 * GiB, DEFAULT_LIMITS)).toBe(DEFAULT_LIMITS.spillBytes);
    expect(spillAllowance(100 * MiB, { ...DEFAULT_LIMITS, spillRatio: 10 })).toBe(1000 * MiB);
    expect(spillAllowance(100 * MiB, { ...DEFAULT_LIMITS, spillBytes: MiB })).toBe(MiB);
  });

  it('decompressor flags, and the lzip dictionary from its header', () => {
    expect(memoryLimitArgs('zstd', 256 * MiB)).toEqual(['--memory=262144KB']);
    expect(memoryLimitArgs('xz', 256 * MiB)).toEqual(['--memlimit-decompress=262144KiB']);
    expect(memoryLimitArgs('gzip', 256 * MiB)).toEqual([]);
    expect(lzipDictionarySize(Buffer.from([0x4c, 0x5a, 0x49, 0x50, 1, 0x14]))).toBe(MiB);
    expect(lzipDictionarySize(Buffer.from([0x4c, 0x5a, 0x49, 0x50, 1, 0x1d]))).toBe(512 * MiB);
    expect(lzipDictionarySize(Buffer.from([0x4c, 0x5a, 0x49, 0x50, 1, 0xd4]))).toBe(MiB - 6 * 65536);
    expect(lzipDictionarySize(Buffer.from('BZh91AY'))).toBeUndefined();
  });
});

describe.skipIf(!hasTools)('from-binpkg under its caps (peak RSS of the CLI and its decompressors)', () => {
  it('a 140 KB GPKG with 4 GiB of zeros in usr/lib/debug stops at the spill cap; the other one is packed', async () => {
    const dir = await tmpdir('limits-spill');
    const zeros = await zstdGpkg(
      dir,
      'zeros-1',
      zeroTarParts([{ name: 'image/usr/lib/debug/zeros.debug', size: 4 * GiB }]),
    );
    expect((await fs.stat(zeros)).size).toBeLessThan(200_000);
    const good = await makeGpkg(await makeImage('hello'), path.join(dir, 'hello-1.0-1.gpkg.tar'), id('hello-1.0'));
    const r = await fromBinpkg([zeros, good], ['--jobs', '2']);
    expect(r.exitCode).toBe(1);
    const spillLine = / the debug files in its image hold more than 256 MiB of data .*--max-spill/;
    expect(r.errors).toEqual([expect.stringMatching(new RegExp(`^packdebug: ${zeros}:${spillLine.source}`))]);
    expect(r.stdout).toMatch(/app-misc\/hello-1\.0-1: packed/);
    expect(r.stdout).toMatch(/^1 packed, 0 skipped .*, 1 failed$/m);
    expect(r.spillLeft).toEqual([]);
    expect(r.peakKb).toBeLessThan(RSS_BOUND_KB);

    // Settable: a cap of 1 MiB stops even the small package; the environment says the same.
    const capped = await fromBinpkg([good], ['--max-spill', '1KiB']);
    expect(capped.exitCode).toBe(1);
    expect(capped.errors[0]).toMatch(/hold more than 1 KiB of data/);
    const byEnv = await fromBinpkg([good], [], { PACKDEBUG_MAX_SPILL: '1KiB' });
    expect(byEnv.errors[0]).toMatch(/hold more than 1 KiB of data/);
  }, 120_000);

  it('a zstd frame declaring a 2 GiB window (768 MiB of data) is refused by zstd --memory', async () => {
    const dir = await tmpdir('limits-zstd');
    const file = await zstdGpkg(
      dir,
      'window-1',
      zeroTarParts([{ name: 'image/usr/share/zeros', size: 768 * MiB }]),
      31,
    );
    const r = await fromBinpkg([file]);
    expect(r.exitCode).toBe(1);
    expect(r.errors).toEqual([
      expect.stringMatching(
        /window-1-1\.gpkg\.tar: window-1-1\/image\.tar\.zst needs more memory to decompress than allowed \(zstd: .*\) \(limit 256 MiB; raise it with --decompress-memory/, // eslint-disable-line max-len
      ),
    ]);
    expect(r.peakKb).toBeLessThan(RSS_BOUND_KB);
  });

  it('an xz payload declaring a 1.5 GiB dictionary is refused by xz --memlimit-decompress', async () => {
    const dir = await tmpdir('limits-xz');
    const tar = Buffer.concat(
      zeroTarParts([{ name: 'image/usr/lib/debug/a.debug', size: 4096, fill: 0x61 }]).map((p) =>
        'raw' in p ? p.raw : Buffer.alloc(p.size, p.rle),
      ),
    );
    const metadata = await execa('xz', ['-c', '-T1'], { input: metadataTar(id('dict-1')), encoding: 'buffer' });
    const file = await gpkgFromPayloads(path.join(dir, 'dict-1-1.gpkg.tar'), {
      basename: 'dict-1-1',
      suffix: '.xz',
      metadata: Buffer.from(metadata.stdout),
      image: await xzDeclaringDictionary(tar, 1536 * MiB),
    });
    const r = await fromBinpkg([file]);
    expect(r.exitCode).toBe(1);
    expect(r.errors[0]).toMatch(
      /dict-1-1\/image\.tar\.xz needs more memory to decompress than allowed \(xz: .*\) \(limit 256 MiB;/,
    );
    expect(r.peakKb).toBeLessThan(RSS_BOUND_KB);
    // Within a raised cap the same binpkg converts.
    const raised = await fromBinpkg([file], ['--decompress-memory', '2GiB']);
    expect(raised.exitCode, raised.errors.join('\n')).toBe(0);
  });

  it('an lzip payload whose header asks for more dictionary than allowed is refused before lzip runs', async () => {
    const dir = await tmpdir('limits-lzip');
    const file = await makeXpak(await makeImage('hello'), path.join(dir, 'hello-1.0.tbz2'), {
      ...id('hello-1.0'),
      compression: 'lzip',
    });
    const data = await fs.readFile(file);
    data[5] = 27; // 128 MiB (lzip reduced it to the input size); the data still decodes with a larger dictionary
    await fs.writeFile(file, data);
    const r = await fromBinpkg([file], [], { PACKDEBUG_DECOMPRESS_MEMORY: '64MiB' });
    expect(r.exitCode).toBe(1);
    expect(r.errors[0]).toMatch(
      /needs more memory to decompress than allowed \(lzip: dictionary of 134217728 bytes\) \(limit 64 MiB;/,
    );
    expect((await fromBinpkg([file])).exitCode).toBe(0);
  });

  it('250 metadata values of 1 MiB: refused at the metadata cap, in bounded memory', async () => {
    const dir = await tmpdir('limits-metadata');
    const parts: ZstdPart[] = [{ raw: metadataTar(id('meta-1')).subarray(0, -1024) }];
    for (let i = 0; i < 250; i++)
      parts.push(...zeroTarParts([{ name: `metadata/BIG${i}`, size: MiB, fill: 0x61 }]).slice(0, -1));
    parts.push({ rle: 0, size: 1024 });
    const file = await gpkgFromPayloads(path.join(dir, 'meta-1-1.gpkg.tar'), {
      basename: 'meta-1-1',
      suffix: '.zst',
      metadata: zstdFrame(parts),
      image: zstdFrame(zeroTarParts([])),
    });
    expect((await fs.stat(file)).size).toBeLessThan(1_000_000);
    const r = await fromBinpkg([file]);
    expect(r.exitCode).toBe(1);
    expect(r.errors).toEqual([
      expect.stringMatching(
        /meta-1-1\/metadata\.tar\.zst holds more metadata than allowed \(limit 32 MiB; raise it with --max-metadata/,
      ),
    ]);
    expect(r.peakKb).toBeLessThan(RSS_BOUND_KB);
    // The library refuses it the same way (audit --pkgdir reads identities through it), and reads it when raised.
    await expect(openBinpkg(file)).rejects.toThrow(/holds more metadata than allowed/);
    const opened = await openBinpkg(file, { ...DEFAULT_LIMITS, metadataBytes: 512 * MiB });
    expect(opened.metadata.pf).toBe('meta-1');
  }, 60_000);
});
