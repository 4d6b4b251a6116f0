import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIO } from './helpers/io.js';
import { type FromBinpkgSummary, runFromBinpkg } from '../src/commands/from-binpkg.js';
import { packImage } from '../src/pack/pack.js';
import { TarParser } from '../src/tar/parse.js';
import { decodeSequential } from '../src/xz/sequential.js';
import { makeGpkg, makeXpak, SUFFIX } from './helpers/binpkg.js';
import { makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasTools = ['tar', 'zstd', 'xz', 'bzip2'].every((t) => requireTool(t));
const HELLO = { category: 'app-misc', pf: 'hello-1.0', buildNumber: '1' };
const REL = 'app-misc/hello/hello-1.0-1-debug.tar.xz';
const BLOCK = '16KiB';

interface Member {
  path: string;
  type: string;
  mode: number;
  mtime: number;
  size: number;
  linkpath: string;
  offset: number;
}

async function members(tarball: string): Promise<Member[]> {
  const out: Member[] = [];
  const parser = new TarParser({
    entry: (e) =>
      out.push({
        path: e.path,
        type: e.type,
        mode: e.mode,
        mtime: e.mtime,
        size: e.size,
        linkpath: e.linkpath,
        offset: e.headerOffset,
      }),
  });
  await decodeSequential(tarball, (c) => parser.write(c));
  return out;
}

async function run(args: Parameters<typeof runFromBinpkg>[0], env: NodeJS.ProcessEnv = { PACKDEBUG_CACHE_DIR: '' }) {
  const io = memoryIO(env);
  const status = await runFromBinpkg({ threads: 2, blockSize: BLOCK, ...args, json: true }, io);
  return { status, summary: JSON.parse(io.out()) as FromBinpkgSummary, err: io.err() };
}

/** What pack writes from the unpacked image (the reference). */
async function packReference(
  image: string,
  out: string,
  id = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' },
): Promise<void> {
  await packImage({ image, ...id, out, blockSize: 16 << 10, threads: 2 });
}

describe.skipIf(!hasTools)('from-binpkg', () => {
  it.each([
    ['gpkg', 'zstd'],
    ['gpkg', 'xz'],
    ['gpkg', 'bzip2'],
    ['xpak', 'bzip2'],
    ['xpak', 'zstd'],
  ] as const)(
    'a %s binpkg with a %s image gives the tarball pack writes from the unpacked image, byte for byte',
    async (format, compression) => {
      const image = await makeImage('hello');
      const dir = await tmpdir('from-binpkg');
      const file = path.join(dir, format === 'gpkg' ? 'hello-1.0-1.gpkg.tar' : 'hello-1.0-1.xpak');
      if (format === 'gpkg') await makeGpkg(image, file, { ...HELLO, compression, signatures: true });
      else await makeXpak(image, file, { ...HELLO, compression });
      const before = await fs.readFile(file);

      // The reference: unpack the binpkg's image with tar, as Portage would merge it, and pack that.
      const unpacked = path.join(dir, 'unpacked');
      await fs.mkdir(unpacked);
      if (format === 'gpkg') {
        await execa('bash', [
          '-c',
          `tar -xOf "${file}" 'hello-1.0-1/image.tar${SUFFIX[compression]}' | ` +
            `tar -x -C "${unpacked}" --strip-components=1 ` +
            `-I "${compression === 'zstd' ? 'zstd -d' : compression === 'xz' ? 'xz -d' : 'bzip2 -d'}"`,
        ]);
      } else {
        await execa('bash', ['-c', `tar -xf "${file}" -C "${unpacked}" 2>/dev/null || true`]);
      }
      const reference = path.join(dir, 'reference.tar.xz');
      await packReference(unpacked, reference);

      const tree = path.join(dir, 'tree');
      const { status, summary } = await run({ targets: [file], out: tree });
      expect(status).toBe(0);
      expect(summary).toMatchObject({ packed: 1, skipped: 0, failed: 0 });
      const tarball = path.join(tree, REL);
      expect(summary.results[0]).toMatchObject({ status: 'packed', package: 'app-misc/hello-1.0-1', tarball, format });
      expect(await members(tarball)).toEqual(await members(reference));
      expect((await fs.readFile(tarball)).equals(await fs.readFile(reference))).toBe(true);
      // The binpkg is untouched, and GNU tar reads the result.
      expect((await fs.readFile(file)).equals(before)).toBe(true);
      await execa('tar', ['-tJf', tarball]);
    },
  );

  const skipsAndFails =
    'skips a binpkg without debug info and one whose tarball is up to date; a differing tarball fails that file only';
  it(skipsAndFails, async () => {
    const image = await makeImage('hello');
    const bare = await makeImage('hello');
    await fs.rm(path.join(bare, 'usr/lib/debug'), { recursive: true });
    await fs.rm(path.join(bare, 'usr/src/debug'), { recursive: true });
    const pkgdir = await tmpdir('from-binpkg-pkgdir');
    await makeGpkg(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'), HELLO);
    await makeGpkg(bare, path.join(pkgdir, 'app-misc/hello/hello-1.0-2.gpkg.tar'), { ...HELLO, buildNumber: '2' });
    await makeXpak(image, path.join(pkgdir, 'dev-libs/foo-2.tbz2'), { category: 'dev-libs', pf: 'foo-2' });
    const tree = path.join(await tmpdir('from-binpkg-tree'), '.tarball');

    const first = await run({ targets: [pkgdir], out: tree, jobs: 2 });
    expect(first.status).toBe(0);
    expect(first.summary).toMatchObject({ packed: 2, skipped: 1, failed: 0 });
    expect(first.summary.results.map((r) => [r.status, 'reason' in r ? r.reason : undefined])).toEqual([
      ['packed', undefined],
      ['skipped', 'no-debug-info'],
      ['packed', undefined],
    ]);
    // Without BUILD_ID (classic layout) the name carries 0.
    const classic = path.join(tree, 'dev-libs/foo/foo-2-0-debug.tar.xz');
    const stat1 = await fs.stat(classic);

    const second = await run({ targets: [pkgdir], out: tree });
    expect(second.summary).toMatchObject({ packed: 0, skipped: 3, failed: 0 });
    expect((await fs.stat(classic)).mtimeMs).toBe(stat1.mtimeMs);

    // Another build under the same name: that file fails, the others go on.
    const other = await makeImage('hello');
    await fs.writeFile(path.join(other, 'usr/src/debug/app-misc/hello-1.0/extra.c'), 'int x;\n');
    await fs.rm(path.join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'));
    await makeGpkg(other, path.join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'), HELLO);
    const third = await run({ targets: [pkgdir], out: tree });
    expect(third.status).toBe(1);
    expect(third.summary).toMatchObject({ packed: 0, skipped: 2, failed: 1 });
    expect(third.err).toMatch(/hello-1\.0-1-debug\.tar\.xz: exists with other contents/);
  });

  it('a corrupt or truncated binpkg fails alone; the run goes on and exits 1', async () => {
    const image = await makeImage('hello');
    const pkgdir = await tmpdir('from-binpkg-bad');
    const good = await makeGpkg(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'), HELLO);
    const bytes = await fs.readFile(good);
    await fs.writeFile(
      path.join(pkgdir, 'app-misc/hello/hello-1.0-2.gpkg.tar'),
      bytes.subarray(0, bytes.length - 3000),
    );
    const xpak = await makeXpak(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-3.xpak'), {
      ...HELLO,
      buildNumber: '3',
      compression: 'zstd',
    });
    const xb = await fs.readFile(xpak);
    for (let i = 2000; i < 2100; i++) xb[i] ^= 0xff;
    await fs.writeFile(xpak, xb);
    const tree = await tmpdir('from-binpkg-bad-tree');
    const { status, summary, err } = await run({ targets: [pkgdir], out: tree });
    expect(status).toBe(1);
    expect(summary).toMatchObject({ packed: 1, failed: 2 });
    expect(err).toMatch(/hello-1\.0-2\.gpkg\.tar: .*truncated/);
    expect(err).toMatch(/hello-1\.0-3\.xpak: .*corrupt/);
    // Nothing half-written for the failed ones.
    const left = await execa('find', [tree, '-type', 'f']);
    expect(left.stdout.split('\n').map((f) => path.basename(f))).toEqual(['hello-1.0-1-debug.tar.xz']);
  });

  it('CLI: one-line errors naming the file, summary, exit 1; a missing PKGDIR is exit 2', async () => {
    const image = await makeImage('hello');
    const pkgdir = await tmpdir('from-binpkg-cli');
    const good = await makeXpak(image, path.join(pkgdir, 'app-misc/hello-1.0.tbz2'), {
      category: 'app-misc',
      pf: 'hello-1.0',
    });
    const bad = path.join(pkgdir, 'app-misc/broken-1.tbz2');
    await fs.writeFile(bad, (await fs.readFile(good)).subarray(0, 5000));
    const tree = await tmpdir('from-binpkg-cli-tree');
    const cli = path.resolve('dist/cli.js');
    const env = { PACKDEBUG_CACHE_DIR: '' };
    const r = await execa('node', [cli, 'from-binpkg', pkgdir, '--out', tree, '-T', '2'], { reject: false, env });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^packdebug: ${bad.replace(/[.]/g, '\\.')}: .*XPAK`)),
    ]);
    expect(r.stdout).toMatch(/app-misc\/hello-1\.0-0: packed .*hello-1\.0-0-debug\.tar\.xz/);
    expect(r.stdout).toMatch(/^1 packed, 0 skipped \(0 without debug info, 0 up to date\), 1 failed$/m);
    const missing = await execa('node', [cli, 'from-binpkg', path.join(pkgdir, 'nope'), '--out', tree], {
      reject: false,
      env,
    });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/nope: no such PKGDIR or binpkg/);
  });

  const archiveOrder =
    "archive order does not matter: hardlinks flipped to pack's first name, a hardlink to a file outside the debug " +
    'dirs, a hardlinked symlink';
  it(archiveOrder, async () => {
    const image = await makeImage('hello');
    const dbg = 'usr/lib/debug/usr/lib64';
    await fs.link(path.join(image, dbg, 'libgreet.so.1.debug'), path.join(image, dbg, 'aaa.debug'));
    await fs.link(path.join(image, 'usr/bin/hello'), path.join(image, 'usr/lib/debug/usr/bin/hello-exe'));
    await fs.symlink('libgreet.so.1.debug', path.join(image, dbg, 'zz-link'));
    await fs.link(path.join(image, dbg, 'zz-link'), path.join(image, dbg, 'bb-link'));
    const all = (await execa('find', ['.', '-mindepth', '1'], { cwd: image })).stdout.split('\n');
    // Reverse byte order, with usr/bin/hello (outside the debug dirs) first: every hardlink points "backwards".
    const order = [
      './usr/bin/hello',
      ...all
        .filter((p) => p !== './usr/bin/hello')
        .sort()
        .reverse(),
    ];
    const dir = await tmpdir('from-binpkg-order');
    const file = await makeXpak(image, path.join(dir, 'hello-1.0-1.xpak'), { ...HELLO, compression: 'zstd', order });
    const listing = (await execa('tar', ['-tvf', '-', '--zstd'], { inputFile: file, reject: false })).stdout;
    expect(listing).toMatch(/aaa\.debug link to .*libgreet/);
    expect(listing).toMatch(/hello-exe link to \.\/usr\/bin\/hello/);

    const unpacked = path.join(dir, 'unpacked');
    await fs.mkdir(unpacked);
    await execa('bash', ['-c', `zstd -dc < "${file}" 2>/dev/null | tar -x -C "${unpacked}" || true`]);
    const reference = path.join(dir, 'reference.tar.xz');
    await packReference(unpacked, reference);
    const tree = path.join(dir, 'tree');
    const { status } = await run({ targets: [file], out: tree });
    expect(status).toBe(0);
    const got = await members(path.join(tree, REL));
    expect(got).toEqual(await members(reference));
    expect(got.find((m) => m.path.endsWith('aaa.debug'))).toMatchObject({ type: '0' });
    expect(got.find((m) => m.path.endsWith('libgreet.so.1.debug'))).toMatchObject({
      type: '1',
      linkpath: './usr/lib/debug/usr/lib64/aaa.debug',
    });
    expect(got.find((m) => m.path.endsWith('hello-exe'))).toMatchObject({ type: '0' });
    expect(got.find((m) => m.path.endsWith('bb-link'))).toMatchObject({ type: '2', linkpath: 'libgreet.so.1.debug' });
    expect((await fs.readFile(path.join(tree, REL))).equals(await fs.readFile(reference))).toBe(true);
  });

  const remembersVerdicts =
    'remembers up-to-date and no-debug-info verdicts: a later run reads neither binpkg nor tarball, until one ' +
    'changes';
  it(remembersVerdicts, async () => {
    const image = await makeImage('hello');
    const bare = await makeImage('hello');
    await fs.rm(path.join(bare, 'usr/lib/debug'), { recursive: true });
    await fs.rm(path.join(bare, 'usr/src/debug'), { recursive: true });
    const pkgdir = await tmpdir('from-binpkg-cache');
    // XPAK with zstd images: the metadata needs no tool, the image needs zstd.
    await makeXpak(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-1.xpak'), { ...HELLO, compression: 'zstd' });
    await makeXpak(bare, path.join(pkgdir, 'app-misc/hello/hello-1.0-2.xpak'), {
      ...HELLO,
      buildNumber: '2',
      compression: 'zstd',
    });
    const tree = await tmpdir('from-binpkg-cache-tree');
    const env = { PACKDEBUG_CACHE_DIR: await tmpdir('from-binpkg-cache-dir') };
    expect((await run({ targets: [pkgdir], out: tree }, env)).summary).toMatchObject({ packed: 1, skipped: 1 });

    const saved = process.env.PATH;
    process.env.PATH = await tmpdir('empty-path'); // no zstd: reading an image would fail
    try {
      const second = await run({ targets: [pkgdir], out: tree }, env);
      expect(second.summary).toMatchObject({ packed: 0, skipped: 2, failed: 0 });
      expect(second.summary.results.map((r) => ('reason' in r ? r.reason : r.status))).toEqual([
        'up-to-date',
        'no-debug-info',
      ]);
      // A touched tarball is compared again (and that needs zstd).
      const tarball = path.join(tree, REL);
      await fs.utimes(tarball, new Date(), new Date(Date.now() - 5000));
      const third = await run({ targets: [pkgdir], out: tree }, env);
      expect(third.summary).toMatchObject({ failed: 1 });
      expect(third.err).toMatch(/'zstd'.*not installed/);
    } finally {
      process.env.PATH = saved;
    }
    expect((await run({ targets: [pkgdir], out: tree }, env)).summary).toMatchObject({
      packed: 0,
      skipped: 2,
      failed: 0,
    });
  });

  const refusesLikePack =
    'refuses what pack refuses, for that binpkg only: a FIFO among the debug files, a symlinked debug root, names ' +
    'leaving the image';
  it(refusesLikePack, async () => {
    const dir = await tmpdir('from-binpkg-hostile');
    const fifoImage = await makeImage('hello');
    await execa('mkfifo', [path.join(fifoImage, 'usr/lib/debug/usr/bin/pipe')]);
    await makeXpak(fifoImage, path.join(dir, 'pkgs/app-misc/hello/hello-1.0-1.xpak'), HELLO);
    const linkImage = await makeImage('hello');
    await fs.rename(path.join(linkImage, 'usr/src/debug'), path.join(linkImage, 'usr/src/elsewhere'));
    await fs.symlink('elsewhere', path.join(linkImage, 'usr/src/debug'));
    await makeGpkg(linkImage, path.join(dir, 'pkgs/app-misc/hello/hello-1.0-2.gpkg.tar'), {
      ...HELLO,
      buildNumber: '2',
    });
    // A hand-made image tar whose member climbs out of image/.
    const { encodeHeader } = await import('../src/tar/header.js');
    const data = Buffer.from('evil\n');
    const header = encodeHeader({
      name: 'image/../../etc/evil',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: 1700000000,
      type: '0',
      linkname: '',
      uname: 'root',
      gname: 'root',
      devmajor: 0,
      devminor: 0,
    });
    const imageTar = Buffer.concat([header, data, Buffer.alloc(512 - data.length), Buffer.alloc(1024)]);
    const stage = path.join(dir, 'stage/evil-1-3');
    await fs.mkdir(stage, { recursive: true });
    const good = await makeGpkg(await makeImage('hello'), path.join(dir, 'good.gpkg.tar'), {
      ...HELLO,
      buildNumber: '3',
      basename: 'evil-1-3',
    });
    await execa('tar', ['-xf', good, '-C', path.join(dir, 'stage')]);
    await execa('bash', ['-c', 'zstd -q -c > "$1"', 'bash', path.join(stage, 'image.tar.zst')], { input: imageTar });
    await execa('tar', [
      '-cf',
      path.join(dir, 'pkgs/app-misc/hello/hello-1.0-3.gpkg.tar'),
      '-C',
      path.join(dir, 'stage'),
      'evil-1-3/gpkg-1',
      'evil-1-3/metadata.tar.zst',
      'evil-1-3/image.tar.zst',
    ]);
    await makeGpkg(await makeImage('hello'), path.join(dir, 'pkgs/app-misc/hello/hello-1.0-4.gpkg.tar'), {
      ...HELLO,
      buildNumber: '4',
    });

    const tree = path.join(dir, 'tree');
    const { status, summary, err } = await run({ targets: [path.join(dir, 'pkgs')], out: tree });
    expect(status).toBe(1);
    expect(summary).toMatchObject({ packed: 1, failed: 3 });
    expect(err).toMatch(/hello-1\.0-1\.xpak: image member 'usr\/lib\/debug\/usr\/bin\/pipe' is a FIFO/);
    expect(err).toMatch(/hello-1\.0-2\.gpkg\.tar: image member 'usr\/src\/debug' is a symlink/);
    expect(err).toMatch(/hello-1\.0-3\.gpkg\.tar: image member 'image\/\.\.\/\.\.\/etc\/evil' has an unsafe name/);
    expect(await fs.readdir(path.join(tree, 'app-misc/hello'))).toEqual(['hello-1.0-4-debug.tar.xz']);
  });

  it('takes the debug dirs under EPREFIX when the metadata names one', async () => {
    const image = await makeImage('hello');
    const d = await tmpdir('from-binpkg-prefix');
    const root = path.join(d, 'D');
    await fs.mkdir(path.join(root, 'opt/gentoo'), { recursive: true });
    await execa('cp', ['-a', `${image}/.`, path.join(root, 'opt/gentoo')]);
    const file = await makeGpkg(root, path.join(d, 'p.gpkg.tar'), { ...HELLO, eprefix: '/opt/gentoo' });
    const reference = path.join(d, 'reference.tar.xz');
    await packReference(path.join(root, 'opt/gentoo'), reference);
    const tree = path.join(d, 'tree');
    const { status } = await run({ targets: [file], out: tree });
    expect(status).toBe(0);
    expect((await fs.readFile(path.join(tree, REL))).equals(await fs.readFile(reference))).toBe(true);
  });
});
