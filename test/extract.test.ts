import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { memoryIO } from './helpers/io.js';
import { runExtract } from '../src/commands/extract.js';
import { listTarball } from '../src/tarball/list.js';
import { packImage } from '../src/pack/pack.js';
import { encodeHeader } from '../src/tar/header.js';
import { findByBuildId, findByPath } from '../src/tarball/extract.js';
import { comparedWith, compareMemberNames } from '../src/tarball/order.js';
import { TarballReader } from '../src/tarball/reader.js';
import { repackTarball } from '../src/tarball/repack.js';
import { buildIds, makeImage, tmpdir } from './helpers/images.js';
import { LZMA_NATIVE_OFF, NO_XZ_BACKEND, requireTool } from './helpers/tools.js';
import { XZ_CONFORMANCE } from './helpers/fixtures.js';

const hasTools = requireTool('tar') && requireTool('xz');
const ID = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' };

async function extractToBuffer(
  tarball: string,
  how: { path?: string; buildId?: string; kind?: 'debuginfo' | 'executable' },
  env: NodeJS.ProcessEnv = { PACKDEBUG_CACHE_DIR: '' },
): Promise<{ data?: Buffer; via?: string; decoded: number }> {
  const reader = await TarballReader.open(tarball, env);
  try {
    const chunks: Buffer[] = [];
    const sink = { begin: () => void (chunks.length = 0), write: (c: Buffer) => void chunks.push(Buffer.from(c)) };
    const found =
      how.path !== undefined
        ? await findByPath(reader, how.path, sink)
        : await findByBuildId(reader, how.buildId!, how.kind ?? 'debuginfo', sink);
    return { data: found ? Buffer.concat(chunks) : undefined, via: found?.via, decoded: reader.bytesDecoded };
  } finally {
    await reader.close();
  }
}

/** A packed odd image (Blocks of 16 KiB) and a Portage-style single-Block tarball of the same image. */
async function tarballs() {
  const image = await makeImage('odd');
  const dir = await tmpdir('extract');
  const seekable = path.join(dir, 'seekable.tar.xz');
  await packImage({ image, ...ID, out: seekable, blockSize: 16 << 10 });
  const portage = path.join(dir, 'portage.tar.xz');
  await execa('bash', ['-c', 'cd "$1" && tar -cJf "$2" ./usr/src/debug ./usr/lib/debug', '_', image, portage]);
  return { image, dir, seekable, portage };
}

describe('member order', () => {
  it('compares names component by component in UTF-8 byte order, sources first', () => {
    const names = ['a', 'a b', 'a-b', 'ab', 'a\u00e9', 'a\uE000', 'a\u{1F600}', 'a\uFFFD', 'b', 'a/b', 'a/b/c', 'Z'];
    const byBytes = (x: string, y: string) => Buffer.compare(Buffer.from(x), Buffer.from(y));
    for (const x of names) {
      for (const y of names) {
        const want = x.includes('/') || y.includes('/') ? undefined : Math.sign(byBytes(x, y));
        const got = Math.sign(compareMemberNames(`./usr/lib/debug/${x}`, `/usr/lib/debug/${y}`));
        if (want !== undefined) expect(got, `${x} vs ${y}`).toBe(want);
        expect(Math.sign(comparedWith(`usr/lib/debug/${y}`)(`./usr/lib/debug/${x}`)), `${x} vs ${y}`).toBe(got);
      }
    }
    // a directory's contents come right after it
    expect(compareMemberNames('./usr/lib/debug/a/b', './usr/lib/debug/a-b')).toBeLessThan(0);
    expect(compareMemberNames('./usr/src/debug/z', './usr/lib/debug/a')).toBeLessThan(0);
  });
});

describe.skipIf(!hasTools)('extract', () => {
  it('finds every regular file by path, byte for byte, through the layout or by a scan', async () => {
    const { image, seekable, portage } = await tarballs();
    const { stdout } = await execa('bash', ['-c', 'cd "$1" && find usr/src/debug usr/lib/debug -type f', '_', image]);
    const files = stdout.split('\n');
    expect(files.length).toBeGreaterThan(5);
    for (const rel of files) {
      const want = await fs.readFile(path.join(image, rel));
      const a = await extractToBuffer(seekable, { path: `/${rel}` });
      expect(a.via, rel).toBe('index');
      expect(a.data?.equals(want), rel).toBe(true);
      const b = await extractToBuffer(portage, { path: `./${rel}` });
      expect(b.via, rel).toBe('scan');
      expect(b.data?.equals(want), rel).toBe(true);
    }
  });

  it('decodes only the Blocks that hold the member on a packdebug tarball', async () => {
    const { image, seekable } = await tarballs();
    const rel = 'usr/src/debug/app-misc/hello-1.0/util.h';
    const r = await extractToBuffer(seekable, { path: rel });
    expect(r.data?.equals(await fs.readFile(path.join(image, rel)))).toBe(true);
    // The small members' Blocks (16 KiB each) and header probes, some of which land on
    // big.debug's continuation Blocks (32 KiB parts here); far less than that 3 MiB member.
    expect(r.decoded).toBeLessThan(256 << 10);
  });

  it('decodes long spans with xz(1) and short ones in-process, and falls back without xz', async () => {
    const image = await makeImage('odd');
    const dir = await tmpdir('extract-xz');
    const tarball = path.join(dir, 'default.tar.xz');
    await packImage({ image, ...ID, out: tarball });
    const rel = 'usr/lib/debug/usr/lib64/big.debug';
    const want = await fs.readFile(path.join(image, rel));
    expect(want.length).toBeGreaterThan(1 << 20);
    const read = async () => {
      const reader = await TarballReader.open(tarball, { PACKDEBUG_CACHE_DIR: '' });
      try {
        const chunks: Buffer[] = [];
        await findByPath(reader, rel, { write: (c) => void chunks.push(Buffer.from(c)) });
        return { data: Buffer.concat(chunks), xz: reader.ra.xzDecodes, blocks: reader.ra.blocksDecoded };
      } finally {
        await reader.close();
      }
    };
    const withXz = await read();
    expect(withXz.data.equals(want)).toBe(true);
    expect(withXz.xz).toBeGreaterThan(0);
    expect(withXz.xz).toBeLessThan(withXz.blocks); // the header probes stay in-process
    const savedPath = process.env['PATH'];
    process.env['PATH'] = dir; // no xz here
    try {
      if (LZMA_NATIVE_OFF) await expect(read()).rejects.toThrow(NO_XZ_BACKEND);
      else {
        const without = await read();
        expect(without.data.equals(want)).toBe(true);
        expect(without.xz).toBe(0);
      }
    } finally {
      process.env['PATH'] = savedPath;
    }
  });

  const sequentialScanDecoder =
    'a sequential scan (Portage tarball) uses xz(1) when it starts and decodes in-process when it does not';
  it(sequentialScanDecoder, async () => {
    const { image, portage, dir } = await tarballs();
    const rel = 'usr/src/debug/app-misc/hello-1.0/hello.c';
    const want = await fs.readFile(path.join(image, rel));
    const withXz = await extractToBuffer(portage, { path: rel });
    expect(withXz).toMatchObject({ via: 'scan' });
    expect(withXz.data?.equals(want)).toBe(true);
    const savedPath = process.env['PATH'];
    process.env['PATH'] = dir; // no xz here
    try {
      if (LZMA_NATIVE_OFF) await expect(extractToBuffer(portage, { path: rel })).rejects.toThrow(NO_XZ_BACKEND);
      else {
        const without = await extractToBuffer(portage, { path: rel });
        expect(without.data?.equals(want)).toBe(true);
      }
    } finally {
      process.env['PATH'] = savedPath;
    }
    // xz(1) refusing the data is a format error naming the file (not an internal error).
    const bad = path.join(dir, 'bad.tar.xz');
    const bytes = await fs.readFile(portage);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x55;
    await fs.writeFile(bad, bytes);
    await expect(extractToBuffer(bad, { path: 'usr/lib/debug/nothing' })).rejects.toMatchObject({
      code: 'E_FORMAT',
      message: expect.stringContaining(bad),
    });
  });

  it('the CLI parses extract command lines with yargs: plain ones run, mistakes are usage errors', async () => {
    const { seekable, image } = await tarballs();
    const cli = path.resolve(__dirname, '../dist/cli.js');
    const rel = 'usr/src/debug/app-misc/hello-1.0/util.h';
    const out = path.join(await tmpdir('extract-cli'), 'out');
    await execa('node', [cli, 'extract', seekable, '--path', rel, '-o', out], { env: { PACKDEBUG_CACHE_DIR: '' } });
    expect((await fs.readFile(out)).equals(await fs.readFile(path.join(image, rel)))).toBe(true);
    const [{ buildId }] = await buildIds(image);
    const verbose = await execa(
      'node',
      [cli, 'extract', seekable, `--build-id=${buildId}`, '--kind', 'debuginfo', '-v'],
      {
        encoding: 'buffer',
        env: { PACKDEBUG_CACHE_DIR: '' },
      },
    );
    expect(Buffer.from(verbose.stderr).toString()).toContain('bytes decoded');
    const executable = await execa(
      'node',
      [cli, 'extract', seekable, `--build-id=${buildId}`, '--kind', 'executable'],
      {
        reject: false,
        env: { PACKDEBUG_CACHE_DIR: '' },
      },
    );
    expect(executable.exitCode).toBe(1);
    expect(executable.stderr).toContain('(executable): not found');
    for (const argv of [
      ['--path', 'a', '--build-id', 'abc'],
      ['--path', 'a', '--kind', 'other'],
      ['--path', 'a', '--unknown'],
      ['--path'],
      ['two', '--path', 'a'],
    ]) {
      const r = await execa('node', [cli, 'extract', seekable, ...argv], { reject: false });
      expect(r.exitCode, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).not.toContain('internal error');
    }
    const ok = await execa('node', [cli, 'extract', seekable, '--path', rel], {
      encoding: 'buffer',
      stripFinalNewline: false,
      env: { PACKDEBUG_CACHE_DIR: '' },
    });
    expect(Buffer.from(ok.stdout).equals(await fs.readFile(path.join(image, rel)))).toBe(true);
    const usage = await execa('node', [cli, 'extract', seekable], { reject: false });
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toContain('give --build-id ID or --path MEMBER');
    const help = await execa('node', [cli, 'extract', '--help']);
    expect(help.stdout).toContain('--build-id');
  });

  it('finds debug files by build-id, checked against the ELF note', async () => {
    const { image, seekable, portage } = await tarballs();
    const ids = await buildIds(image);
    expect(ids.length).toBeGreaterThan(0);
    for (const { path: rel, buildId } of ids) {
      const want = await fs.readFile(path.join(image, rel));
      for (const t of [seekable, portage]) {
        const r = await extractToBuffer(t, { buildId });
        expect(r.data?.equals(want), `${t} ${rel}`).toBe(true);
      }
    }
    expect((await extractToBuffer(seekable, { buildId: 'ab'.repeat(20) })).data).toBeUndefined();
    // The executables are not in a debug tarball: no executable by that build-id.
    expect((await extractToBuffer(seekable, { buildId: ids[0]!.buildId, kind: 'executable' })).data).toBeUndefined();
  });

  it('to stdout, a slow reader sets the pace: about one Block is held, not the whole member', async () => {
    const { image, seekable } = await tarballs();
    const rel = 'usr/lib/debug/usr/lib64/big.debug';
    const want = await fs.readFile(path.join(image, rel));
    const got: Buffer[] = [];
    let mostQueued = 0;
    const stdout = new Writable({
      highWaterMark: 4096,
      write(chunk: Buffer, _enc, done) {
        got.push(Buffer.from(chunk));
        setTimeout(done, 1);
      },
    });
    const write = stdout.write.bind(stdout);
    stdout.write = ((chunk: Buffer) => {
      const r = write(chunk);
      mostQueued = Math.max(mostQueued, stdout.writableLength);
      return r;
    }) as typeof stdout.write;
    const io = { ...memoryIO({ PACKDEBUG_CACHE_DIR: '' }), stdout };
    expect(await runExtract({ source: seekable, path: rel }, io)).toBe(0);
    await new Promise<void>((resolve) => stdout.end(resolve));
    expect(Buffer.concat(got).equals(want)).toBe(true);
    expect(want.length).toBeGreaterThan(1 << 20);
    expect(mostQueued).toBeLessThan(256 << 10); // Blocks of 16 KiB here, members split into parts of 32 KiB
  });

  it('writes -o atomically and refuses symlinks, directories and names with ..', async () => {
    const { seekable, dir } = await tarballs();
    const out = path.join(dir, 'out.c');
    const io = memoryIO();
    expect(
      await runExtract({ source: seekable, path: 'usr/src/debug/app-misc/hello-1.0/hello.c', output: out }, io),
    ).toBe(0);
    expect((await fs.readFile(out, 'utf8')).length).toBeGreaterThan(10);
    await expect(
      runExtract({ source: seekable, path: 'usr/lib/debug/usr/lib64/abs.debug', output: out }, io),
    ).rejects.toMatchObject({ code: 'E_UNSAFE' });
    await expect(runExtract({ source: seekable, path: 'usr/src/debug/../../etc/passwd' }, io)).rejects.toMatchObject({
      code: 'E_UNSAFE',
    });
    await expect(runExtract({ source: seekable, path: 'usr/src/debug/app-misc' }, io)).rejects.toMatchObject({
      code: 'E_INPUT',
    });
    await expect(
      runExtract({ source: seekable, path: 'usr/src/debug/nope.c', output: path.join(dir, 'nope') }, io),
    ).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect((await fs.readdir(dir)).filter((n) => n.includes('nope') || n.endsWith('.tmp'))).toEqual([]);
  });

  it('picks the newest BUILD_ID in a tree and says so', async () => {
    const image = await makeImage('hello');
    const tree = await tmpdir('tree');
    for (const n of ['1', '3', '2'])
      await packImage({
        image,
        ...ID,
        buildNumber: n,
        out: path.join(tree, 'app-misc/hello', `hello-1.0-${n}-debug.tar.xz`),
      });
    await fs.symlink('/etc', path.join(tree, 'app-misc/evil'));
    const io = memoryIO();
    const [{ buildId }] = await buildIds(image);
    expect(
      await runExtract({ source: tree, buildId, output: path.join(await tmpdir('tree-out'), 'x.debug') }, io),
    ).toBe(0);
    expect(io.err()).toContain('in 3 tarballs; using the newest BUILD_ID');
    expect(io.err()).toContain('hello-1.0-3-debug.tar.xz');
  });

  const headerLikeBoundary =
    'a header-like part boundary inside a stored tar is data, not a member: still sorted, still found by the layout';
  it(headerLikeBoundary, async () => {
    const image = await tmpdir('nested');
    const src = path.join(image, 'usr/src/debug/c/p-1');
    const inner = path.join(image, 'inner');
    await fs.mkdir(src, { recursive: true });
    await fs.mkdir(inner);
    await fs.writeFile(path.join(src, 'a.c'), 'a\n');
    await fs.writeFile(path.join(src, 'zlast.c'), 'z\n');
    // 222 files of 512 bytes in 512-byte records: the member spans 512 + 1536 + 222 * 1024 =
    // 7 parts of exactly 32 KiB, and every part boundary lands on an inner header.
    for (let i = 0; i < 222; i++)
      await fs.writeFile(path.join(inner, `f${String(i).padStart(4, '0')}`), Buffer.alloc(512, 0x61));
    await execa('tar', ['-b1', '-cf', path.join(src, 'data.tar'), '-C', inner, '.']);
    await fs.rm(inner, { recursive: true });
    const tarball = path.join(image, 'nested.tar.xz');
    await packImage({ image, ...ID, out: tarball, blockSize: 16 << 10 });
    expect(await listTarball(tarball)).toMatchObject({ packdebugLayout: true, sorted: true });
    const r = await extractToBuffer(tarball, { path: 'usr/src/debug/c/p-1/zlast.c' });
    expect(r).toMatchObject({ via: 'index' });
    expect(r.data?.toString()).toBe('z\n');
    expect(r.decoded).toBeLessThan(64 << 10);
  });

  it('to stdout, a small member is decoded once (held from the pass that found it)', async () => {
    const { image, seekable } = await tarballs();
    const rel = 'usr/src/debug/app-misc/hello-1.0/hello.c';
    const io = memoryIO({ PACKDEBUG_CACHE_DIR: '' });
    expect(await runExtract({ source: seekable, path: rel, verbose: true }, io)).toBe(0);
    expect(io.out()).toBe(await fs.readFile(path.join(image, rel), 'utf8'));
    const decoded = Number(/, (\d+) bytes decoded/.exec(io.err())?.[1]);
    const alone = (await extractToBuffer(seekable, { path: rel })).decoded;
    expect(decoded).toBe(alone);
  });

  it('a wrong estrip link is not the end: -o gets the file whose note has the build-id', async () => {
    const image = await makeImage('hello');
    const ids = [...new Map((await buildIds(image)).map((x) => [x.buildId, x])).values()];
    expect(ids.length).toBeGreaterThanOrEqual(2);
    // Swap the targets of two .debug links: each now names the other's file.
    const linkOf = (id: string) => path.join(image, 'usr/lib/debug/.build-id', id.slice(0, 2), `${id.slice(2)}.debug`);
    const [a, b] = [ids[0]!, ids[1]!];
    const [ta, tb] = [await fs.readlink(linkOf(a.buildId)), await fs.readlink(linkOf(b.buildId))];
    await fs.rm(linkOf(a.buildId));
    await fs.rm(linkOf(b.buildId));
    await fs.symlink(tb, linkOf(a.buildId));
    await fs.symlink(ta, linkOf(b.buildId));
    const dir = await tmpdir('wrong-link');
    const tarball = path.join(dir, 'w.tar.xz');
    await packImage({ image, ...ID, out: tarball, blockSize: 4096 });
    expect((await listTarball(tarball)).seekable).toBe(true);
    const out = path.join(dir, 'a.debug');
    expect(
      await runExtract({ source: tarball, buildId: a.buildId, output: out }, memoryIO({ PACKDEBUG_CACHE_DIR: '' })),
    ).toBe(0);
    expect((await fs.readFile(out)).equals(await fs.readFile(path.join(image, a.path)))).toBe(true);
  });

  it('in a tree, a build-id no estrip link names is still found, by a second, full pass (and says so)', async () => {
    const image = await makeImage('hello');
    const [{ path: rel, buildId }] = await buildIds(image);
    await fs.rm(path.join(image, 'usr/lib/debug/.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`));
    const tree = await tmpdir('tree-nolink');
    for (const n of ['1', '2'])
      await packImage({
        image,
        ...ID,
        buildNumber: n,
        out: path.join(tree, 'app-misc/hello', `hello-1.0-${n}-debug.tar.xz`),
        blockSize: 4096,
      });
    const io = memoryIO({ PACKDEBUG_CACHE_DIR: '' });
    const out = path.join(await tmpdir('tree-nolink-out'), 'x.debug');
    expect(await runExtract({ source: tree, buildId, output: out }, io)).toBe(0);
    expect((await fs.readFile(out)).equals(await fs.readFile(path.join(image, rel)))).toBe(true);
    expect(io.err()).toContain(`no estrip link names build-id ${buildId}`);
    expect(io.err()).toContain('hello-1.0-2-debug.tar.xz');
  });

  it('-o names the output in its errors: a directory, a missing directory', async () => {
    const { seekable, dir } = await tarballs();
    const rel = 'usr/src/debug/app-misc/hello-1.0/hello.c';
    await expect(runExtract({ source: seekable, path: rel, output: dir }, memoryIO())).rejects.toMatchObject({
      code: 'E_INPUT',
      message: `${dir}: is a directory`,
    });
    const missing = path.join(dir, 'no/such/f.c');
    await expect(runExtract({ source: seekable, path: rel, output: missing }, memoryIO())).rejects.toMatchObject({
      message: expect.stringMatching(new RegExp(`^${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `)),
    });
    expect((await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('in a tree, a damaged tarball is skipped with a warning and slow ones are summed up in one line', async () => {
    const image = await makeImage('hello');
    const tree = await tmpdir('tree-damaged');
    const dir = path.join(tree, 'app-misc/hello');
    await packImage({ image, ...ID, buildNumber: '1', out: path.join(dir, 'hello-1.0-1-debug.tar.xz') });
    await fs.writeFile(path.join(dir, 'hello-1.0-9-debug.tar.xz'), Buffer.from('\xfd7zXZ\0 not really', 'latin1'));
    // Two Portage tarballs of more than one small Block: read sequentially.
    const big = await makeImage('odd');
    await fs.mkdir(path.join(tree, 'app-misc/odd'), { recursive: true });
    for (const n of ['2', '3'])
      await execa('bash', [
        '-c',
        'cd "$1" && tar -cJf "$2" ./usr/src/debug ./usr/lib/debug',
        '_',
        big,
        path.join(tree, 'app-misc/odd', `odd-1.0-${n}-debug.tar.xz`),
      ]);
    const io = memoryIO();
    const [{ path: rel, buildId }] = await buildIds(image);
    const out = path.join(await tmpdir('tree-damaged-out'), 'x.debug');
    expect(await runExtract({ source: tree, buildId, output: out }, io)).toBe(0);
    expect((await fs.readFile(out)).equals(await fs.readFile(path.join(image, rel)))).toBe(true);
    const lines = io.err().trim().split('\n');
    expect(lines.filter((l) => l.includes('hello-1.0-9-debug.tar.xz'))).toEqual([
      expect.stringMatching(/^packdebug: warning: .*hello-1\.0-9-debug\.tar\.xz.*; skipped$/),
    ]);
    expect(lines.filter((l) => l.includes('sequentially'))).toEqual([
      expect.stringMatching(
        /^packdebug: 2 of the tarballs in .* were read sequentially, .*odd-1\.0-2-debug\.tar\.xz.*packdebug repack/,
      ),
    ]);
    await expect(runExtract({ source: tree, buildId: 'ab'.repeat(20) }, memoryIO())).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
      message: expect.stringContaining('1 unreadable tarball skipped'),
    });
  });

  it('fails cleanly on every conformance file and on hostile tar headers', async () => {
    const io = memoryIO();
    for (const name of await fs.readdir(XZ_CONFORMANCE)) {
      if (name === 'README') continue;
      const file = path.join(XZ_CONFORMANCE, name);
      const err = await runExtract({ source: file, path: 'usr/lib/debug/x' }, io).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, name).toBeDefined();
      expect(err, name).toHaveProperty('code');
    }
    // A tar with '../' and absolute names: found by name, but never written anywhere else than -o.
    const dir = await tmpdir('hostile');
    const header = (name: string, body: string) => {
      const h = encodeHeader({
        name,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: body.length,
        mtime: 0,
        type: '0',
        linkname: '',
        uname: 'root',
        gname: 'root',
        devmajor: 0,
        devminor: 0,
      });
      const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
      data.write(body);
      return Buffer.concat([h, data]);
    };
    const tarFile = path.join(dir, 'h.tar');
    await fs.writeFile(
      tarFile,
      Buffer.concat([header('../../escape', 'x'), header('/etc/evil', 'y'), Buffer.alloc(1024)]),
    );
    await execa('xz', ['-k', tarFile]);
    await expect(runExtract({ source: `${tarFile}.xz`, path: '../../escape' }, io)).rejects.toMatchObject({
      code: 'E_UNSAFE',
    });
    const out = path.join(dir, 'evil.out');
    expect(await runExtract({ source: `${tarFile}.xz`, path: '/etc/evil', output: out }, io)).toBe(0);
    expect(await fs.readFile(out, 'utf8')).toBe('y');
    expect(await fs.readdir(dir)).toEqual(['evil.out', 'h.tar', 'h.tar.xz']);
  });
});

describe.skipIf(!hasTools)('list and repack', () => {
  it('lists members, offsets, build-ids and classes', async () => {
    const { image, seekable, portage } = await tarballs();
    const ids = await buildIds(image);
    for (const t of [seekable, portage]) {
      const r = await listTarball(t);
      const names = r.entries.map((e) => e.path);
      const { stdout } = await execa('tar', ['-tJf', t]);
      expect(names).toEqual(stdout.split('\n'));
      for (const { path: rel, buildId } of ids) {
        const m = r.entries.find((e) => e.path === `./${rel}`)!;
        if (m.type === 'file') expect(m).toMatchObject({ buildId, debuginfod: 'debuginfo' });
      }
      expect(r.entries.find((e) => e.path.endsWith('big.debug'))?.debuginfod).toBeUndefined();
    }
    expect(await listTarball(seekable)).toMatchObject({ seekable: true, packdebugLayout: true, sorted: true });
    expect(await listTarball(portage)).toMatchObject({ seekable: false, blocks: 1 });
  });

  const repacksSingleBlock =
    'repacks a single-Block tarball with an identical tar stream, keeping mode and owner, and skips it next time';
  it(repacksSingleBlock, async () => {
    const { portage, image } = await tarballs();
    await fs.chmod(portage, 0o640);
    await fs.chown(portage, 1, 2);
    const before = (await execa('xz', ['-dc', portage], { encoding: 'buffer' })).stdout;
    const r = await repackTarball(portage, { blockSize: 16 << 10 });
    expect(r).toMatchObject({ status: 'repacked', blocksBefore: 1 });
    expect(r.blocksAfter).toBeGreaterThan(2);
    const after = (await execa('xz', ['-dc', portage], { encoding: 'buffer' })).stdout;
    expect(Buffer.compare(Buffer.from(before), Buffer.from(after))).toBe(0);
    const st = await fs.stat(portage);
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o640, 1, 2]);
    expect((await repackTarball(portage, { blockSize: 16 << 10 })).status).toBe('skipped');
    // Extraction from the repacked file (Portage's member order, so no binary
    // search): the first one scans and caches a member index, the next ones use it.
    const cache = await tmpdir('cache');
    const env = { PACKDEBUG_CACHE_DIR: cache };
    const rel = 'usr/src/debug/app-misc/hello-1.0/hello.c';
    const want = await fs.readFile(path.join(image, rel));
    const first = await extractToBuffer(portage, { path: rel }, env);
    expect(first.data?.equals(want)).toBe(true);
    expect(await fs.readdir(cache)).toHaveLength(1);
    const second = await extractToBuffer(portage, { path: rel }, env);
    expect(second).toMatchObject({ via: 'cache' });
    expect(second.data?.equals(want)).toBe(true);
    expect(second.decoded).toBeLessThan(first.decoded);
    const [{ path: debugRel, buildId }] = await buildIds(image);
    const byId = await extractToBuffer(portage, { buildId }, env);
    expect(byId.via).toBe('cache');
    expect(byId.data?.equals(await fs.readFile(path.join(image, debugRel)))).toBe(true);
    // A cache whose tarball changed (mtime) is not trusted.
    const cacheFile = path.join(cache, (await fs.readdir(cache))[0]!);
    const json = JSON.parse(await fs.readFile(cacheFile, 'utf8'));
    json.members = [];
    await fs.writeFile(cacheFile, JSON.stringify(json));
    // the (tampered) cache is trusted while the file is unchanged
    expect((await extractToBuffer(portage, { path: rel }, env)).data).toBeUndefined();
    await fs.utimes(portage, new Date(), new Date(Date.now() + 5000));
    expect((await extractToBuffer(portage, { path: rel }, env)).data?.equals(want)).toBe(true);
    expect(await fs.readdir(path.dirname(portage))).not.toContain(expect.stringMatching(/\.tmp$/));
  });

  it("leaves a small package's one-Block tarball alone: no repack, no slowness notice", async () => {
    const image = await makeImage('hello');
    const tarball = path.join(await tmpdir('small'), 'hello-1.0-1-debug.tar.xz');
    await packImage({ image, ...ID, out: tarball });
    const old = new Date('2020-01-01T00:00:00Z');
    await fs.utimes(tarball, old, old);
    const bytes = await fs.readFile(tarball);
    expect(await listTarball(tarball)).toMatchObject({ blocks: 1, seekable: false, oneSmallBlock: true });
    for (const dryRun of [true, false]) {
      expect(await repackTarball(tarball, { dryRun })).toMatchObject({
        status: 'skipped',
        reason: expect.stringContaining('one Block'),
      });
    }
    expect((await fs.readFile(tarball)).equals(bytes)).toBe(true);
    expect((await fs.stat(tarball)).mtime).toEqual(old);
    const io = memoryIO();
    const out = path.join(path.dirname(tarball), 'hello.c');
    expect(
      await runExtract({ source: tarball, path: 'usr/src/debug/app-misc/hello-1.0/hello.c', output: out }, io),
    ).toBe(0);
    expect(io.err()).toBe('');
    // A Block size below the tarball's tar does repack it.
    expect((await repackTarball(tarball, { blockSize: 8 << 10, dryRun: true })).status).toBe('would-repack');
  });

  it('--dry-run writes nothing', async () => {
    const { portage } = await tarballs();
    const bytes = await fs.readFile(portage);
    expect((await repackTarball(portage, { blockSize: 16 << 10, dryRun: true })).status).toBe('would-repack');
    expect((await fs.readFile(portage)).equals(bytes)).toBe(true);
  });
});
