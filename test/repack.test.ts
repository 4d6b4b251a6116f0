import { renameSync, utimesSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIO } from './helpers/io.js';
import { runRepack } from '../src/commands/repack.js';
import { repackTarball } from '../src/tarball/repack.js';
import { makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';
import { portageTarball } from './helpers/trees.js';

const hasTools = requireTool('tar') && requireTool('xz');

/** A tree holding one Portage-style single-Block tarball of the odd image (several 16 KiB Blocks once repacked). */
async function tree() {
  const image = await makeImage('odd');
  const root = await tmpdir('repack');
  const dir = path.join(root, 'app-misc', 'hello');
  const tarball = await portageTarball(image, path.join(dir, 'hello-1.0-1-debug.tar.xz'));
  return { image, root, dir, tarball };
}

const temps = async (dir: string) => (await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'));

describe.skipIf(!hasTools)('repack: files that change or are symlinks', () => {
  // Replaced before decoding starts (the first progress message) and after the first Block is written.
  for (const when of ['before decoding', 'after a Block'] as const) {
    const name = `leaves a tarball renamed over while it was repacked (${when}) as it is now: E_CHANGED, no temp file`;
    it(name, async () => {
      const { dir, tarball } = await tree();
      const replacement = Buffer.from('a newer build, written meanwhile\n');
      let calls = 0;
      const progress = () => {
        if (++calls !== (when === 'before decoding' ? 1 : 2)) return;
        const temp = path.join(dir, 'newer.part');
        writeFileSync(temp, replacement);
        renameSync(temp, tarball);
      };
      const run = repackTarball(tarball, { blockSize: 16 << 10, progress });
      await expect(run).rejects.toMatchObject({
        code: 'E_CHANGED',
        message: `${tarball}: changed while it was repacked (replaced or modified); left as it is now, run again`,
      });
      expect(calls).toBeGreaterThanOrEqual(2);
      expect((await fs.readFile(tarball)).equals(replacement)).toBe(true);
      expect(await temps(dir)).toEqual([]);
    });
  }

  it('leaves a tarball modified in place (mtime) while it was repacked alone: E_CHANGED', async () => {
    const { dir, tarball } = await tree();
    const bytes = await fs.readFile(tarball);
    const later = new Date(Date.now() + 60_000);
    let touched = false;
    const progress = () => {
      if (touched) return;
      touched = true;
      utimesSync(tarball, later, later);
    };
    await expect(repackTarball(tarball, { blockSize: 16 << 10, progress })).rejects.toMatchObject({
      code: 'E_CHANGED',
    });
    expect((await fs.readFile(tarball)).equals(bytes)).toBe(true);
    expect((await fs.stat(tarball)).mtime).toEqual(later);
    expect(await temps(dir)).toEqual([]);
  });

  it('refuses a symlink argument (E_INPUT, exit 1) and goes on with the other tarballs', async () => {
    const { dir, tarball } = await tree();
    const target = path.join(dir, 'hello-1.0-2-debug.tar.xz');
    await fs.copyFile(tarball, target);
    const bytes = await fs.readFile(target);
    const link = path.join(dir, 'link-debug.tar.xz');
    await fs.symlink(path.basename(target), link);
    await expect(repackTarball(link, { blockSize: 16 << 10 })).rejects.toMatchObject({
      code: 'E_INPUT',
      message: `${link} is a symlink; repack the file it points to`,
    });

    const io = memoryIO();
    expect(await runRepack({ targets: [link, tarball], blockSize: '16KiB' }, io)).toBe(1);
    expect(io.err()).toBe(`packdebug: ${link} is a symlink; repack the file it points to\n`);
    expect(io.out()).toContain(`${tarball}: repacked`);
    expect(io.out()).toContain('1 repacked, 0 to repack, 0 already in the layout, 1 failed\n');
    expect((await fs.lstat(link)).isSymbolicLink()).toBe(true);
    expect((await fs.readFile(target)).equals(bytes)).toBe(true);
  });

  it('in a tree, names each symlink it does not follow (exit 0 when nothing failed)', async () => {
    const { root, dir, tarball } = await tree();
    const elsewhere = await tmpdir('repack-elsewhere');
    const outside = path.join(elsewhere, 'outside-1-debug.tar.xz');
    await fs.copyFile(tarball, outside);
    const bytes = await fs.readFile(outside);
    await fs.symlink(outside, path.join(dir, 'outside-1-debug.tar.xz'));
    await fs.symlink(elsewhere, path.join(root, 'app-misc', 'linked-pn'));
    await fs.symlink('hello-1.0-1-debug.tar.xz', path.join(dir, 'README')); // not a tarball name: not worth a line

    const io = memoryIO();
    expect(await runRepack({ targets: [root], blockSize: '16KiB', dryRun: true }, io)).toBe(0);
    expect(io.out().split('\n')).toEqual([
      `${path.join(root, 'app-misc', 'hello', 'outside-1-debug.tar.xz')}: skipped, a symlink ` +
        '(not followed; repack the file it points to)',
      `${path.join(root, 'app-misc', 'linked-pn')}: skipped, a symlink (not followed; repack the file it points to)`,
      expect.stringMatching(/hello-1\.0-1-debug\.tar\.xz: would repack/),
      '0 repacked, 1 to repack, 0 already in the layout, 0 failed, 2 symlinks not followed',
      '',
    ]);
    const json = memoryIO();
    expect(await runRepack({ targets: [root], blockSize: '16KiB', json: true }, json)).toBe(0);
    const results = JSON.parse(json.out()) as { tarball: string; status: string }[];
    expect(results.map((r) => r.status)).toEqual(['symlink', 'symlink', 'repacked']);
    expect((await fs.readFile(outside)).equals(bytes)).toBe(true);
    expect((await fs.lstat(path.join(dir, 'outside-1-debug.tar.xz'))).isSymbolicLink()).toBe(true);
  });
});
