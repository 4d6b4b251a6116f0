import { renameSync, utimesSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
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

describe.skipIf(!hasTools)('repack: a tarball that changes meanwhile', () => {
  // Replaced before decoding starts (the first progress message) and after the first Block is written.
  for (const when of ['before decoding', 'after a Block'] as const) {
    it(`leaves a tarball renamed over while it was repacked (${when}) as it is now: E_CHANGED, no temp file`, async () => {
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
      await expect(run).rejects.toMatchObject({ code: 'E_CHANGED', message: `${tarball}: changed while it was repacked (replaced or modified); left as it is now, run again` });
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
    await expect(repackTarball(tarball, { blockSize: 16 << 10, progress })).rejects.toMatchObject({ code: 'E_CHANGED' });
    expect((await fs.readFile(tarball)).equals(bytes)).toBe(true);
    expect((await fs.stat(tarball)).mtime).toEqual(later);
    expect(await temps(dir)).toEqual([]);
  });
});
