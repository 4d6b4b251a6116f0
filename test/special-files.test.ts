/**
 * FIFOs, devices and symlinks where a tarball, a binpkg or a metadata file
 * is expected (issue 12, item 11): each command refuses them at once with
 * one line naming the file, and small metadata files are read with a bound.
 * Every child process has a timeout, so a regression fails instead of hanging.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { readTextFile } from '../src/portage/environment.js';
import { readInstalled } from '../src/portage/vdb.js';
import { readSmallFile, SMALL_FILE_LIMIT } from '../src/util/regular-file.js';
import { tmpdir } from './helpers/images.js';
import { cliPeakRss } from './helpers/peak-rss.js';

const CLI = path.resolve(__dirname, '../dist/cli.js');
const mkfifo = (file: string) => execFileSync('mkfifo', [file]);

describe('commands given a FIFO named like their input', () => {
  let dir: string;
  let tarball: string;
  let binpkg: string;
  beforeAll(async () => {
    dir = await tmpdir('fifo-inputs');
    tarball = path.join(dir, 'hello-1.0-1-debug.tar.xz');
    binpkg = path.join(dir, 'hello-1.0-1.gpkg.tar');
    mkfifo(tarball);
    mkfifo(binpkg);
  });
  const run = (args: string[]) => execa('node', [CLI, ...args], { reject: false, timeout: 20_000 });

  it.each([
    ['list', () => ['list', tarball]],
    ['extract', () => ['extract', tarball, '--path', 'usr/bin/hello.debug', '-o', path.join(dir, 'out')]],
  ])('%s: exits with one line naming the FIFO', async (_, args) => {
    const r = await run(args());
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toBe(`packdebug: ${tarball}: not a regular file (a FIFO)`);
  });

  it('verify: the FIFO is an unreadable tarball (exit 1), named on one line', async () => {
    const r = await run(['verify', tarball, '--server', 'http://127.0.0.1:9', '--retries', '0']);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`packdebug: ${tarball}: not a regular file (a FIFO)`);
  });

  it('from-binpkg: the FIFO fails (exit 1), named on one line', async () => {
    const r = await run(['from-binpkg', binpkg, '-o', path.join(dir, 'tree')]);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`packdebug: ${binpkg}: not a regular file (a FIFO)`);
  });
});

describe('small metadata files are read with a bound, never through a FIFO or symlink', () => {
  it('readSmallFile: missing is undefined; FIFO, symlink and oversize are errors naming the file', async () => {
    const dir = await tmpdir('small-files');
    const ok = path.join(dir, 'BUILD_ID');
    await fs.writeFile(ok, '7\n');
    expect(await readSmallFile(ok)).toBe('7\n');
    expect(await readSmallFile(path.join(dir, 'nope'))).toBeUndefined();
    const fifo = path.join(dir, 'fifo');
    mkfifo(fifo);
    await expect(readSmallFile(fifo)).rejects.toMatchObject({
      code: 'E_INPUT',
      message: `${fifo}: not a regular file (a FIFO)`,
    });
    const zero = path.join(dir, 'zero');
    await fs.symlink('/dev/zero', zero);
    await expect(readSmallFile(zero)).rejects.toMatchObject({ message: `${zero}: a symbolic link (not followed)` });
    await expect(readSmallFile(zero, { follow: true })).rejects.toMatchObject({
      message: `${zero}: not a regular file (a character device)`,
    });
    const big = path.join(dir, 'big');
    await fs.writeFile(big, Buffer.alloc(SMALL_FILE_LIMIT + 1, 0x31));
    await expect(readSmallFile(big)).rejects.toMatchObject({
      message: `${big}: larger than 4096 bytes (not a metadata file)`,
    });
    // The hook's build-info/BUILD_ID goes through the same rules.
    expect(() => readTextFile(fifo)).toThrow(`${fifo}: not a regular file (a FIFO)`);
    expect(readTextFile(ok)).toBe('7\n');
  });

  it('prune --vdb: a FIFO BUILD_ID and one symlinked to /dev/zero record nothing (their builds are kept)', async () => {
    const dir = await tmpdir('vdb-special');
    const vdb = path.join(dir, 'vdb');
    for (const pf of ['fifo-1', 'zero-1', 'plain-1'])
      await fs.mkdir(path.join(vdb, 'app-misc', pf), { recursive: true });
    mkfifo(path.join(vdb, 'app-misc/fifo-1/BUILD_ID'));
    await fs.symlink('/dev/zero', path.join(vdb, 'app-misc/zero-1/BUILD_ID'));
    await fs.writeFile(path.join(vdb, 'app-misc/plain-1/BUILD_ID'), '02\n');
    const installed = await readInstalled(vdb);
    expect(Object.fromEntries(installed.byCpv)).toEqual({
      'app-misc/fifo-1': null,
      'app-misc/zero-1': null,
      'app-misc/plain-1': '2',
    });
    const tree = path.join(dir, 'tree');
    await fs.mkdir(tree);
    const { result, peakRss } = await cliPeakRss(['prune', tree, '--vdb', vdb, '--dry-run'], { timeout: 20_000 });
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(0);
    // /dev/zero was read up to 594 MB before.
    expect(peakRss).toBeLessThan(150e6);
  });
});
