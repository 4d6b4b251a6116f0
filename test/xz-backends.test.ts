/**
 * packdebug without lzma-native (issue 16): where the addon cannot load
 * (PACKDEBUG_LZMA_NATIVE=0 makes it unloadable), xz(1) and the in-process
 * code stand in for it and write and read the very same bytes; with neither,
 * one line names what to install. The built modules and CLI (dist/, built by
 * `pretest`) run in child processes with and without the variable.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { findXz } from '../src/xz/block-encoder.js';
import { xzBackends } from '../src/xz/backends.js';
import { buildIds, makeImage, tmpdir } from './helpers/images.js';
import { LZMA_NATIVE_OFF, NO_XZ_BACKEND, requireTool, toolPath } from './helpers/tools.js';
import { portageTarball } from './helpers/trees.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const CHILD = fileURLToPath(new URL('./helpers/xz-backend-child.mjs', import.meta.url));
const ID = ['--category', 'app-misc', '--pn', 'hello', '--pf', 'hello-1.0', '--build-id', '1'];
const hasXz = requireTool('xz') && requireTool('tar');

/** lzma-native is installed (an optional dependency, which `npm ci` installs here). */
const nativeInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('lzma-native');
    return true;
  } catch {
    return false;
  }
})();

/** The environment of a child that may load lzma-native (`native`) or must not. */
function envWith(native: boolean, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PACKDEBUG_CACHE_DIR: '', LC_ALL: 'C', ...extra };
  if (native) delete env['PACKDEBUG_LZMA_NATIVE'];
  else env['PACKDEBUG_LZMA_NATIVE'] = '0';
  return env;
}

function node(args: string[], env: NodeJS.ProcessEnv) {
  return execa(process.execPath, args, { env, extendEnv: false, reject: false, timeout: 120_000 });
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface ChildReport {
  lzmaNative: boolean;
  file: string;
  reads: Record<string, string>;
}

describe.skipIf(!hasXz)('xz backends with and without lzma-native', () => {
  it('encode and decode the same bytes: Blocks, streamed and whole reads, sequential decoding', async () => {
    const dir = await tmpdir('xz-backends');
    // Text, incompressible, highly compressible (a large Block that streams), and one byte.
    const text = Buffer.from('int main(void) { return greet("world"); }\n'.repeat(3000));
    const inputs = [text, randomBytes(200 << 10), Buffer.alloc(1 << 20, 0x41), Buffer.from('x')];
    const files: string[] = [];
    for (const [i, data] of inputs.entries()) {
      files.push(path.join(dir, `input-${i}`));
      await fs.writeFile(files[i]!, data);
    }
    const run = async (native: boolean): Promise<ChildReport> => {
      const r = await node([CHILD, path.join(dir, `${native ? 'with' : 'without'}.xz`), ...files], envWith(native));
      expect(r.exitCode, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as ChildReport;
    };
    const withNative = await run(true);
    const without = await run(false);
    expect(withNative.lzmaNative).toBe(nativeInstalled);
    expect(without.lzmaNative).toBe(false);
    // The same file, byte for byte, whoever encoded it; every read gives the input back.
    expect(without.file).toBe(withNative.file);
    const whole = sha256(Buffer.concat(inputs));
    const expected = {
      'lzma-native read': whole,
      'lzma-native streamBlock': whole,
      'lzma-native prefix': sha256(inputs.at(-1)!.subarray(0, 100)),
      'auto read': whole,
      'auto streamBlock': whole,
      'auto prefix': sha256(inputs.at(-1)!.subarray(0, 100)),
      sequential: whole,
    };
    expect(withNative.reads).toEqual(expected);
    expect(without.reads).toEqual(expected);
    const { stdout } = await execa('xz', ['-dc', path.join(dir, 'without.xz')], { encoding: 'buffer' });
    expect(sha256(Buffer.from(stdout))).toBe(whole);
  });

  it('pack writes the same tarball with each backend; extract and repack work without lzma-native', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('xz-backends-cli');
    // Small Blocks: several of them, some decoded whole and some only probed.
    const pack = async (name: string, native: boolean, encoder: string) => {
      const out = path.join(dir, name);
      const args = [CLI, 'pack', '--image', image, ...ID, '--block-size', '4KiB', '--encoder', encoder, '-o', out];
      const r = await node(args, envWith(native));
      expect(r.exitCode, r.stderr).toBe(0);
      return fs.readFile(out);
    };
    const reference = await pack('native.tar.xz', true, 'lzma-native');
    expect((await pack('without.tar.xz', false, 'lzma-native')).equals(reference)).toBe(true);
    expect((await pack('xz.tar.xz', true, 'xz')).equals(reference)).toBe(true);
    expect((await pack('auto.tar.xz', false, 'auto')).equals(reference)).toBe(true);

    // extract -v says which backends there are, once.
    const [{ path: debugFile, buildId }] = await buildIds(image);
    const extracted = path.join(dir, 'extracted.debug');
    const tarball = path.join(dir, 'without.tar.xz');
    const r = await node([CLI, 'extract', tarball, '--build-id', buildId!, '-v', '-o', extracted], envWith(false));
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await fs.readFile(extracted)).equals(await fs.readFile(path.join(image, debugFile!)))).toBe(true);
    const said = r.stderr.split('\n').filter((line) => line.includes('xz backends:'));
    expect(said).toEqual([expect.stringContaining('no lzma-native: disabled by PACKDEBUG_LZMA_NATIVE=0')]);
    expect(said[0]).toContain(`xz(1) ${await findXz()}`);
    const quiet = await node([CLI, 'extract', tarball, '--build-id', buildId!, '-o', extracted], envWith(false));
    expect([quiet.exitCode, quiet.stderr]).toEqual([0, '']);

    // Repacking Portage's one-Block tarball: the same bytes with and without the addon.
    const portage = await portageTarball(image, path.join(dir, 'portage', 'hello.tar.xz'));
    const repacked: Buffer[] = [];
    for (const native of [true, false]) {
      const copy = path.join(dir, `repack-${native}.tar.xz`);
      await fs.copyFile(portage, copy);
      const args = [CLI, 'repack', copy, '--block-size', '4KiB', '--encoder', 'lzma-native'];
      const rr = await node(args, envWith(native));
      expect(rr.exitCode, rr.stderr).toBe(0);
      repacked.push(await fs.readFile(copy));
    }
    expect(repacked[1]!.equals(repacked[0]!)).toBe(true);
  });

  it('with neither xz(1) nor lzma-native: one line naming app-arch/xz-utils, nothing written', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('xz-backends-none');
    const tarball = path.join(dir, 'hello.tar.xz');
    expect((await node([CLI, 'pack', '--image', image, ...ID, '-o', tarball], envWith(true))).exitCode).toBe(0);
    const none = envWith(false, { PATH: path.join(dir, 'no-such-dir') });
    const out = path.join(dir, 'out.tar.xz');
    const packed = await node([CLI, 'pack', '--image', image, ...ID, '-o', out], none);
    const member = 'usr/src/debug/app-misc/hello-1.0/hello.c';
    const extracted = await node([CLI, 'extract', tarball, '--path', member, '-o', path.join(dir, 'out.c')], none);
    for (const r of [packed, extracted]) {
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr.split('\n')).toEqual([expect.stringMatching(NO_XZ_BACKEND)]);
      expect(r.stderr).toMatch(/^packdebug: cannot (en|de)code xz: /);
    }
    expect(await fs.readdir(dir)).toEqual(['hello.tar.xz']);
  });

  it('xzBackends reports lzma-native and xz(1) as the environment has them', async () => {
    const here = await xzBackends(process.env);
    expect(here.xz).toEqual({ path: toolPath('xz'), version: await findXz() });
    if (LZMA_NATIVE_OFF || !nativeInstalled) expect(here.lzmaNative.loaded).toBe(false);
    else {
      const { version } = createRequire(import.meta.url)('lzma-native/package.json') as { version: string };
      expect(here.lzmaNative).toEqual({ loaded: true, version, liblzma: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    }
    const off = await xzBackends({ ...process.env, PACKDEBUG_LZMA_NATIVE: '0', PATH: '/nonexistent' });
    expect(off).toEqual({
      lzmaNative: { loaded: false, error: 'disabled by PACKDEBUG_LZMA_NATIVE=0' },
      xz: { error: 'not on PATH' },
    });
  });
});
