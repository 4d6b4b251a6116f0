/**
 * XZ_OPT and XZ_DEFAULTS (which Portage passes through from the user's
 * environment) change nothing packdebug writes or reads: every xz(1) it
 * starts runs without them. Each command runs as the CLI from dist/ (built
 * by `pretest`), with the variables in the child's environment, and is
 * compared with the same command run without them.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { makeGpkg } from './helpers/binpkg.js';
import { buildIds, makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const IDENTITY_ARGS = ['--category', 'app-misc', '--pn', 'hello', '--pf', 'hello-1.0', '--build-id', '1'];
const hasTools = ['tar', 'xz', 'bash'].every((t) => requireTool(t));

/** Settings that, passed on to xz, split Blocks, drop the check, fail every decode or every run. */
const HOSTILE: Record<string, NodeJS.ProcessEnv> = {
  'XZ_OPT=--block-size=1MiB -T1 --check=none -0': { XZ_OPT: '--block-size=1MiB -T1 --check=none -0' },
  'XZ_DEFAULTS=--block-size=512KiB --memlimit=1KiB -T2': { XZ_DEFAULTS: '--block-size=512KiB --memlimit=1KiB -T2' },
  'XZ_OPT=--no-such-option': { XZ_OPT: '--no-such-option' },
};

function cli(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, PACKDEBUG_CACHE_DIR: '', ...extra };
  delete env['SOURCE_DATE_EPOCH'];
  if (!('XZ_OPT' in extra)) delete env['XZ_OPT'];
  if (!('XZ_DEFAULTS' in extra)) delete env['XZ_DEFAULTS'];
  return execa('node', [CLI, ...args], { env, extendEnv: false, reject: false, encoding: 'buffer', timeout: 120_000 });
}

function failure(r: { exitCode?: number; stderr: Uint8Array }): string {
  return `exit ${r.exitCode}: ${Buffer.from(r.stderr).toString()}`;
}

describe.skipIf(!hasTools)('XZ_OPT and XZ_DEFAULTS', () => {
  it('change nothing pack (xz encoder), list, extract and repack write or read', async () => {
    // The odd image has a 3 MiB member: one Block of its own, which --block-size=1MiB would split.
    const image = await makeImage('odd');
    const dir = await tmpdir('xz-environment');
    const reference = path.join(dir, 'reference.tar.xz');
    const packArgs = ['pack', '--image', image, ...IDENTITY_ARGS, '--encoder', 'xz', '--out'];
    const packed = await cli([...packArgs, reference]);
    expect(packed.exitCode, failure(packed)).toBe(0);
    const expected = await readFile(reference);
    const [debugFile] = await buildIds(image);

    // A Portage-style tarball (one Block) for repack, and what repack makes of it without the variables.
    const single = (name: string) => path.join(dir, name);
    const tarCmd = `tar --format=pax --sort=name -C '${image}' -cf - usr/lib/debug | xz -T1 -6`;
    await execa('bash', ['-c', `set -o pipefail; ${tarCmd} > '${single('plain.tar.xz')}'`], {
      env: { XZ_OPT: '', XZ_DEFAULTS: '' },
    });
    for (const name of ['clean.tar.xz', ...Object.keys(HOSTILE).map((_, i) => `hostile-${i}.tar.xz`)])
      await execa('cp', ['--', single('plain.tar.xz'), single(name)]);
    const repacked = await cli(['repack', single('clean.tar.xz')]);
    expect(repacked.exitCode, failure(repacked)).toBe(0);
    const repackedClean = await readFile(single('clean.tar.xz'));
    const list = await cli(['list', '--json', reference]);
    expect(list.exitCode, failure(list)).toBe(0);

    for (const [i, [label, env]] of Object.entries(HOSTILE).entries()) {
      const out = path.join(dir, `pack-${i}.tar.xz`);
      const r = await cli([...packArgs, out], env);
      expect(r.exitCode, `${label}: pack ${failure(r)}`).toBe(0);
      expect((await readFile(out)).equals(expected), `${label}: pack wrote other bytes`).toBe(true);

      const listed = await cli(['list', '--json', out], env);
      expect(listed.exitCode, `${label}: list ${failure(listed)}`).toBe(0);
      expect({ ...JSON.parse(Buffer.from(listed.stdout).toString()), tarball: reference }, label).toEqual(
        JSON.parse(Buffer.from(list.stdout).toString()),
      );

      // big.debug fills 3 MiB of one Block: read through xz(1).
      const big = await cli(['extract', out, '--path', '/usr/lib/debug/usr/lib64/big.debug'], env);
      expect(big.exitCode, `${label}: extract --path ${failure(big)}`).toBe(0);
      expect(Buffer.from(big.stdout).equals(await readFile(path.join(image, 'usr/lib/debug/usr/lib64/big.debug'))));
      const elf = await cli(['extract', out, '--build-id', debugFile!.buildId], env);
      expect(elf.exitCode, `${label}: extract --build-id ${failure(elf)}`).toBe(0);
      expect(Buffer.from(elf.stdout).equals(await readFile(path.join(image, debugFile!.path))), label).toBe(true);

      const target = single(`hostile-${i}.tar.xz`);
      const rp = await cli(['repack', target], env);
      expect(rp.exitCode, `${label}: repack ${failure(rp)}`).toBe(0);
      expect((await readFile(target)).equals(repackedClean), `${label}: repack wrote other bytes`).toBe(true);
    }
  }, 240_000);

  it('change nothing from-binpkg reads from an xz-compressed image or writes', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('xz-environment-binpkg');
    const gpkg = path.join(dir, 'hello-1.0-1.gpkg.tar');
    await makeGpkg(image, gpkg, { category: 'app-misc', pf: 'hello-1.0', buildNumber: '1', compression: 'xz' });
    const rel = 'app-misc/hello/hello-1.0-1-debug.tar.xz';
    const clean = await cli(['from-binpkg', gpkg, '--out', path.join(dir, 'clean'), '--encoder', 'xz']);
    expect(clean.exitCode, failure(clean)).toBe(0);
    const expected = await readFile(path.join(dir, 'clean', rel));
    for (const [i, [label, env]] of Object.entries(HOSTILE).entries()) {
      const tree = path.join(dir, `tree-${i}`);
      const r = await cli(['from-binpkg', gpkg, '--out', tree, '--encoder', 'xz'], env);
      expect(r.exitCode, `${label}: ${failure(r)}`).toBe(0);
      expect((await readFile(path.join(tree, rel))).equals(expected), `${label}: other bytes`).toBe(true);
    }
  }, 120_000);
});
