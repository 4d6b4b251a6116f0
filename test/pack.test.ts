import { execa } from 'execa';
import { appendFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { walkDebugRoots } from '../src/image/walk.js';
import { DEFAULT_BLOCK_SIZE, planBlocks, resolveLayout } from '../src/tarball/layout.js';
import { packImage } from '../src/pack/pack.js';
import { planTar } from '../src/image/tar-plan.js';
import { TarParser } from '../src/tar/parse.js';
import { readXzLayout } from '../src/xz/file-layout.js';
import { decodeSequential } from '../src/xz/sequential.js';
import { makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasTar = requireTool('tar') && requireTool('xz');
const ID = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' };
const TARBALL = 'usr/lib/debug/.tarball/app-misc/hello/hello-1.0-1-debug.tar.xz';

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

async function members(tarball: string): Promise<{ path: string; type: string; offset: number }[]> {
  const out: { path: string; type: string; offset: number }[] = [];
  const parser = new TarParser({ entry: (e) => out.push({ path: e.path, type: e.type, offset: e.headerOffset }) });
  await decodeSequential(tarball, (c) => parser.write(c));
  return out;
}

async function blocksOf(tarball: string) {
  const fh = await fs.open(tarball);
  try {
    return (await readXzLayout(fh, tarball)).blocks;
  } finally {
    await fh.close();
  }
}

describe('image walk', () => {
  it('orders sources first, depth first in byte order, and skips .tarball', async () => {
    const image = await makeImage('odd');
    await fs.mkdir(path.join(image, 'usr/lib/debug/.tarball/x'), { recursive: true });
    await fs.writeFile(path.join(image, 'usr/lib/debug/.tarball/x/old.tar.xz'), 'x');
    const walk = await walkDebugRoots(image);
    const names = walk.entries.map((e) => e.member);
    expect(names[0]).toBe('./usr/src/debug/');
    expect(names.indexOf('./usr/lib/debug/')).toBeGreaterThan(
      names.indexOf('./usr/src/debug/app-misc/hello-1.0/hello.c'),
    );
    expect(names.some((n) => n.includes('.tarball'))).toBe(false);
    const sorted = [...names].sort((a, b) => {
      const root = (n: string) => (n.startsWith('./usr/src/debug') ? 0 : 1);
      if (root(a) !== root(b)) return root(a) - root(b);
      const pa = a.replace(/\/$/, '').split('/');
      const pb = b.replace(/\/$/, '').split('/');
      for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
        const c = Buffer.compare(Buffer.from(pa[i]!), Buffer.from(pb[i]!));
        if (c !== 0) return c;
      }
      return pa.length - pb.length;
    });
    expect(names).toEqual(sorted);
    expect(walk.emptyDirs.has('usr/lib/debug/usr/share/empty-owned')).toBe(true);
    const hard = walk.entries.filter((e) => e.kind === 'hardlink');
    expect(hard.map((e) => e.member)).toEqual(['./usr/lib/debug/usr/bin/hello.debug']);
    expect(hard[0]!.linkTarget).toBe('./usr/lib/debug/usr/bin/hello-hard.debug');
  });

  it('refuses names that are not UTF-8, FIFOs, and symlinked roots, naming the file', async () => {
    const image = await makeImage('hello');
    const bad = Buffer.concat([
      Buffer.from(path.join(image, 'usr/src/debug/bad-')),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('.c'),
    ]);
    await fs.writeFile(bad, 'x');
    await expect(walkDebugRoots(image)).rejects.toMatchObject({
      code: 'E_UNSAFE',
      message: expect.stringMatching(/bad-\\xff\\xfe\.c: file name is not valid UTF-8/),
    });
    await fs.unlink(bad);
    await execa('mkfifo', [path.join(image, 'usr/lib/debug/fifo')]);
    await expect(walkDebugRoots(image)).rejects.toMatchObject({
      code: 'E_UNSAFE',
      message: expect.stringContaining('fifo: is a FIFO'),
    });
    await fs.unlink(path.join(image, 'usr/lib/debug/fifo'));
    const outside = await tmpdir('outside');
    await fs.rename(path.join(image, 'usr/src/debug'), path.join(outside, 'debug'));
    await fs.symlink(path.join(outside, 'debug'), path.join(image, 'usr/src/debug'));
    await expect(walkDebugRoots(image)).rejects.toMatchObject({
      code: 'E_UNSAFE',
      message: expect.stringContaining('is a symlink'),
    });
  });
});

describe('Block layout', () => {
  it('starts Blocks at member headers, groups small members and gives large ones Blocks of their own', async () => {
    const image = await makeImage('odd');
    const plan = planTar((await walkDebugRoots(image)).entries);
    const blocks = planBlocks(plan.members, plan.size, { blockSize: 64 << 10, largeBlockSize: 1 << 20 });
    const starts = new Set(plan.members.map((m) => m.offset));
    const big = plan.members.find((m) => m.entry.member.endsWith('big.debug'))!;
    expect(blocks[0]!.start).toBe(0);
    expect(blocks[blocks.length - 1]!.end).toBe(plan.size);
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!;
      if (i > 0) expect(b.start).toBe(blocks[i - 1]!.end);
      const insideBig = b.start > big.offset && b.start < big.end;
      expect(starts.has(b.start) || insideBig).toBe(true);
      if (!insideBig && b.start !== big.offset) expect(b.end - b.start).toBeLessThanOrEqual((64 << 10) + 10240);
    }
    const bigBlocks = blocks.filter((b) => b.start >= big.offset && b.end <= big.end + 10240);
    expect(bigBlocks.length).toBe(Math.ceil((big.end - big.offset) / (1 << 20)));
  });

  it('keeps small Blocks for the sources when debug files get large ones', async () => {
    const image = await makeImage('odd');
    const plan = planTar((await walkDebugRoots(image)).entries);
    const members = plan.members.map((m) => ({ offset: m.offset, end: m.end, name: m.entry.member }));
    const firstLib = plan.members.find((m) => m.entry.member.startsWith('./usr/lib/'))!;
    expect(firstLib.offset).toBeGreaterThan(0);
    // Defaults: the sources' limits follow --block-size up to 1984 KiB.
    expect(resolveLayout({}, 8 << 20)).toEqual({
      blockSize: DEFAULT_BLOCK_SIZE,
      largeBlockSize: 2 * DEFAULT_BLOCK_SIZE,
    });
    expect(resolveLayout({ blockSize: 32 << 20 }, 8 << 20).sources).toEqual({
      blockSize: DEFAULT_BLOCK_SIZE,
      largeBlockSize: 2 * DEFAULT_BLOCK_SIZE,
    });
    expect(() => resolveLayout({ sourceBlockSize: 100 }, 8 << 20)).toThrow(/source block size 100/);
    const blocks = planBlocks(members, plan.size, {
      blockSize: 1 << 30,
      largeBlockSize: 1 << 30,
      sources: { blockSize: 1024, largeBlockSize: 4096 },
    });
    // Sources in Blocks of about 1 KiB, then one Block from the first debug member to the end.
    expect(blocks.some((b) => b.start === firstLib.offset)).toBe(true);
    expect(blocks.filter((b) => b.start >= firstLib.offset)).toHaveLength(1);
    expect(blocks.filter((b) => b.start < firstLib.offset).length).toBeGreaterThan(3);
    // Equal limits: no cut of its own between sources and debug files.
    const same = planBlocks(members, plan.size, { blockSize: 1 << 30, largeBlockSize: 1 << 30 });
    expect(same).toEqual([{ start: 0, end: plan.size }]);
  });
});

describe('packImage', () => {
  it('writes nothing and says so when the image has no debug dirs', async () => {
    const image = await tmpdir('empty-image');
    await fs.mkdir(path.join(image, 'usr/bin'), { recursive: true });
    const r = await packImage({ image, ...ID });
    expect(r.status).toBe('empty');
    expect(await exists(path.join(image, 'usr/lib'))).toBe(false);
  });

  it('packs, reports and is idempotent; a second pack leaves the file alone', async () => {
    const image = await makeImage('odd');
    const first = await packImage({ image, ...ID, blockSize: 64 << 10 });
    expect(first).toMatchObject({
      status: 'packed',
      tarball: path.join(image, TARBALL),
      replaced: false,
      unchanged: false,
    });
    expect(first.blocks).toBeGreaterThan(1);
    expect((await blocksOf(first.tarball!)).length).toBe(first.blocks);
    const bytes = await fs.readFile(first.tarball!);
    const mtime = (await fs.stat(first.tarball!)).mtimeMs;
    const second = await packImage({ image, ...ID, blockSize: 64 << 10 });
    expect(second).toMatchObject({ status: 'packed', unchanged: true, replaced: false });
    expect((await fs.readFile(first.tarball!)).equals(bytes)).toBe(true);
    expect((await fs.stat(first.tarball!)).mtimeMs).toBe(mtime);
  });

  it('keeps member offsets on Block starts so a reader can find headers cheaply', async () => {
    const image = await makeImage('odd');
    const r = await packImage({ image, ...ID, blockSize: 64 << 10 });
    const list = await members(r.tarball!);
    const offsets = new Set(list.map((m) => m.offset));
    const blocks = await blocksOf(r.tarball!);
    const headerStarts = blocks.filter((b) => offsets.has(b.uncompressedOffset));
    // All but big.debug's continuation Blocks (3 MiB in parts of at most 128 KiB, twice the Block size).
    const bigParts = Math.ceil((3 << 20) / (128 << 10));
    expect(headerStarts.length).toBeGreaterThanOrEqual(blocks.length - bigParts);
    expect(headerStarts.length).toBeGreaterThan(2);
  });

  it('--remove-packed removes what it packed and prunes only what that emptied', async () => {
    const image = await makeImage('odd');
    await fs.mkdir(path.join(image, 'usr/share/doc'), { recursive: true });
    await fs.writeFile(path.join(image, 'usr/share/doc/README'), 'keep');
    const r = await packImage({ image, ...ID, removePacked: true });
    expect(r.removedFiles).toBeGreaterThan(5);
    // The tarball, the empty directory the package owns, and everything outside the debug roots stay.
    expect(await exists(r.tarball!)).toBe(true);
    expect(await exists(path.join(image, 'usr/lib/debug/usr/share/empty-owned'))).toBe(true);
    expect(await exists(path.join(image, 'usr/lib/empty-outside'))).toBe(true);
    expect(await exists(path.join(image, 'usr/bin/hello'))).toBe(true);
    expect(await exists(path.join(image, 'usr/share/doc/README'))).toBe(true);
    // usr/src/debug emptied completely: pruned up to usr/src, which held nothing else.
    expect(await exists(path.join(image, 'usr/src'))).toBe(false);
    expect(await exists(path.join(image, 'usr/lib/debug/.build-id'))).toBe(false);
    expect(await exists(path.join(image, 'usr/lib/debug/usr/bin'))).toBe(false);
    expect(await exists(path.join(image, 'usr/lib/debug/usr/share'))).toBe(true);
    // Nothing lost: the tarball still holds every removed file.
    const names = (await members(r.tarball!)).map((m) => m.path);
    expect(names).toContain('./usr/src/debug/app-misc/hello-1.0/hello.c');
    expect(names).toContain('./usr/lib/debug/usr/lib64/big.debug');
  });

  it.skipIf(!hasTar)('replaces a Portage-made tarball with the same contents, refuses one that differs', async () => {
    const image = await makeImage('odd');
    const out = path.join(image, TARBALL);
    await fs.mkdir(path.dirname(out), { recursive: true });
    await execa('bash', [
      '-c',
      'cd "$1" && tar --exclude=./usr/lib/debug/.tarball -cJf "$2" ./usr/src/debug ./usr/lib/debug',
      '_',
      image,
      out,
    ]);
    const r = await packImage({ image, ...ID, blockSize: 64 << 10 });
    expect(r).toMatchObject({ replaced: true, unchanged: false });
    expect((await blocksOf(out)).length).toBeGreaterThan(1);

    // A tarball of a modified copy of the image: its contents differ from the image.
    const copy = path.join(await tmpdir('copy'), 'image');
    await execa('cp', ['-a', image, copy]);
    await fs.writeFile(path.join(copy, 'usr/src/debug/app-misc/hello-1.0/hello.c'), 'changed\n');
    await execa('bash', [
      '-c',
      'cd "$1" && tar --exclude=./usr/lib/debug/.tarball -cJf "$2" ./usr/src/debug ./usr/lib/debug',
      '_',
      copy,
      `${out}.other`,
    ]);
    await fs.rename(`${out}.other`, out);
    const before = await fs.readFile(out);
    await expect(packImage({ image, ...ID })).rejects.toMatchObject({
      code: 'E_VERIFY',
      message: expect.stringContaining('differs from the image'),
    });
    expect((await fs.readFile(out)).equals(before)).toBe(true);
    expect((await fs.readdir(path.dirname(out))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('clamps mtimes to SOURCE_DATE_EPOCH and owns everything by root', async () => {
    const image = await makeImage('hello');
    const out = path.join(await tmpdir('sde'), 'x.tar.xz');
    await packImage({ image, ...ID, out, sourceDateEpoch: 1000 });
    const parser = new TarParser({
      entry: (e) => {
        expect(e.mtime).toBeLessThanOrEqual(1000);
        expect([e.uid, e.gid, e.uname, e.gname]).toEqual([0, 0, 'root', 'root']);
      },
    });
    await decodeSequential(out, (c) => parser.write(c));
    expect(parser.ended).toBe(true);
  });

  it('fails with E_CHANGED, writes nothing and removes nothing when the image changes mid-pack', async () => {
    const image = await makeImage('odd');
    const big = path.join(image, 'usr/lib/debug/usr/lib64/big.debug');
    await expect(
      packImage({
        image,
        ...ID,
        removePacked: true,
        log: {
          info: () => undefined,
          warn: () => undefined,
          progress: (m) => void (m === 'verifying' && appendFileSync(big, 'x')),
        },
      }),
    ).rejects.toMatchObject({ code: 'E_CHANGED', message: expect.stringContaining('big.debug') });
    expect(await exists(path.join(image, 'usr/lib/debug/.tarball'))).toBe(false);
    expect(await exists(path.join(image, 'usr/src/debug/app-misc/hello-1.0/hello.c'))).toBe(true);
  });
});

describe('Block layout edge cases', () => {
  it('gives a stream of one large member more than one Block', async () => {
    const image = await tmpdir('one-big');
    await fs.mkdir(path.join(image, 'usr/lib/debug'), { recursive: true });
    await fs.writeFile(path.join(image, 'usr/lib/debug/big.debug'), Buffer.alloc(300 << 10, 7));
    const plan = planTar((await walkDebugRoots(image)).entries);
    const blocks = planBlocks(plan.members, plan.size, { blockSize: 64 << 10, largeBlockSize: 8 << 20 });
    expect(blocks.length).toBeGreaterThan(1);
    expect(blocks[blocks.length - 1]!.end).toBe(plan.size);
    const r = await packImage({ image, ...ID, blockSize: 64 << 10, largeBlockSize: 8 << 20 });
    expect(r.blocks).toBe(blocks.length);
  });
});

// ---------------------------------------------------------------------------
// Long names and failed packs (issue 12, item 12)
// ---------------------------------------------------------------------------

describe('names at the limits of a file name (NAME_MAX, 255 bytes)', () => {
  const tarballDir = (image: string) => path.join(image, 'usr/lib/debug/.tarball');

  it('a CATEGORY, PN or tarball name longer than 255 bytes is a usage error before anything is created', async () => {
    const image = await makeImage('hello');
    const pn = 'p'.repeat(240);
    for (const [id, what] of [
      [{ ...ID, category: 'c'.repeat(300) }, 'CATEGORY'],
      [{ ...ID, pn: 'p'.repeat(256), pf: `${'p'.repeat(256)}-1.0` }, 'PN'],
      [{ ...ID, pn, pf: `${pn}-1.0` }, 'PF'],
    ] as const) {
      await expect(packImage({ image, ...id }), what).rejects.toMatchObject({
        code: 'E_USAGE',
        message: expect.stringContaining('longer than 255 bytes'),
      });
      expect(await exists(tarballDir(image)), what).toBe(false);
    }
  });

  it('packs a PF whose tarball name is 241 bytes (the temporary name stays within 255 bytes)', async () => {
    const image = await makeImage('hello');
    const pn = 'p'.repeat(222);
    const id = { ...ID, pn, pf: `${pn}-1.0` };
    const r = await packImage({ image, ...id });
    expect(path.basename(r.tarball!)).toHaveLength(241);
    expect(await fs.readdir(path.dirname(r.tarball!))).toEqual([path.basename(r.tarball!)]);
  });

  it('a failed pack removes every directory it created, .tarball included', async () => {
    const image = await makeImage('hello');
    const out = path.join(tarballDir(image), 'app-misc', 'x'.repeat(300), 'hello-1.0-1-debug.tar.xz');
    const mtime = (await fs.stat(path.join(image, 'usr/lib/debug'))).mtimeMs;
    await expect(packImage({ image, ...ID, out })).rejects.toMatchObject({
      code: 'E_IO',
      message: expect.stringMatching(/name too long/),
    });
    expect(await exists(tarballDir(image))).toBe(false);
    expect((await fs.stat(path.join(image, 'usr/lib/debug'))).mtimeMs).toBe(mtime);
  });
});
