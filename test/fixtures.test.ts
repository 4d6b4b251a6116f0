/**
 * The fixture images look the way estrip leaves ${ED} with
 * FEATURES="splitdebug installsources" (see fixtures/README.md), and the
 * committed hello-image.tar is such an image.
 */
import { createHash } from 'node:crypto';
import { chmod, lstat, readFile, readlink, realpath, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import * as tar from 'tar';
import { beforeAll, describe, expect, it } from 'vitest';
import { HELLO_IMAGE_TAR, buildIds, makeImage, readBuildId, tmpdir, walkTree } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasTools = ['gcc', 'objcopy', 'strip', 'readelf', 'cp'].map(requireTool).every(Boolean);

const SRC_DIR = 'usr/src/debug/app-misc/hello-1.0';
const MTIME = 1700000000;
const BINARIES = ['usr/bin/hello', 'usr/lib64/libgreet.so.1'];
const SOURCES = ['hello.c', 'util.c', 'util.h', 'libgreet.c'];

/** One line per entry (type, permission bits, path, symlink target), sorted. */
async function listing(root: string): Promise<string[]> {
  const lines: string[] = [];
  for (const { path, type } of await walkTree(root)) {
    const abs = join(root, path);
    const mode = ((await lstat(abs)).mode & 0o7777).toString(8).padStart(4, '0');
    const target = type === 'symlink' ? ` -> ${await readlink(abs)}` : '';
    lines.push(`${type} ${type === 'symlink' ? '----' : mode} ${path || '.'}${target}`);
  }
  return lines.sort();
}

/** Directory lines for `path` and all its ancestors, for expected listings. */
function dirs(...paths: string[]): string[] {
  const out = new Set<string>(['dir 0755 .']);
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) out.add(`dir 0755 ${parts.slice(0, i).join('/')}`);
  }
  return [...out];
}

async function binaryBuildIds(image: string): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const bin of BINARIES) {
    const id = await readBuildId(join(image, bin));
    expect(id, `build-id of ${bin}`).toMatch(/^[0-9a-f]{40}$/);
    ids.set(bin, id!);
  }
  return ids;
}

/** The listing of a hello image whose binaries have the build-ids `ids`. */
function expectedHello(ids: Map<string, string>): string[] {
  const lines = [
    ...dirs('usr/bin', 'usr/lib64', 'usr/lib/debug/usr/bin', 'usr/lib/debug/usr/lib64', SRC_DIR),
    'file 0755 usr/bin/hello',
    'file 0755 usr/bin/hello-hard',
    'file 0755 usr/lib64/libgreet.so.1',
    'file 0644 usr/lib/debug/usr/bin/hello.debug',
    'file 0644 usr/lib/debug/usr/bin/hello-hard.debug',
    'file 0644 usr/lib/debug/usr/lib64/libgreet.so.1.debug',
    ...SOURCES.map((f) => `file 0644 ${SRC_DIR}/${f}`),
  ];
  for (const [bin, id] of ids) {
    const dir = `usr/lib/debug/.build-id/${id.slice(0, 2)}`;
    lines.push(...dirs(dir));
    lines.push(`symlink ---- ${dir}/${id.slice(2)}.debug -> ../../${bin}.debug`);
    lines.push(`symlink ---- ${dir}/${id.slice(2)} -> ../../../../../${bin}`);
  }
  return [...new Set(lines)];
}

const sorted = (lines: string[]): string[] => [...lines].sort();

/** Source files named by the DWARF 5 line tables of `file`, as absolute paths. */
async function dwarfSources(file: string): Promise<string[]> {
  const { stdout } = await execa('readelf', ['--debug-dump=line', '--', file]);
  const files = new Set<string>();
  let section: 'dirs' | 'files' | undefined;
  let dirTable: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.includes('The Directory Table')) {
      section = 'dirs';
      dirTable = [];
    } else if (line.includes('The File Name Table')) {
      section = 'files';
    } else if (line.trim() === '') {
      section = undefined;
    } else {
      // "  1\t(indirect line string, offset: 0x2a): /usr/include"
      // "  3\t0\t(indirect line string, offset: 0x3f): util.h"
      const m = /^\s*\d+\t(?:(\d+)\t)?(?:\(indirect [^)]*\):\s*)?(.+)$/.exec(line);
      if (m === null) continue;
      const [, dir, name] = m as unknown as [string, string | undefined, string];
      if (section === 'dirs') dirTable.push(name);
      else if (section === 'files' && dir !== undefined) {
        files.add(name.startsWith('/') ? name : `${dirTable[Number(dir)]}/${name}`);
      }
    }
  }
  return [...files].sort();
}

/** The estrip invariants every fixture image (and its extraction) keeps. */
async function checkEstripLayout(image: string): Promise<void> {
  for (const [bin, id] of await binaryBuildIds(image)) {
    const debug = join(image, 'usr/lib/debug', `${bin}.debug`);
    expect(await readBuildId(debug), `build-id of ${bin}.debug`).toBe(id);

    const linkDir = join(image, 'usr/lib/debug/.build-id', id.slice(0, 2));
    expect(await realpath(join(linkDir, `${id.slice(2)}.debug`))).toBe(await realpath(debug));
    expect(await realpath(join(linkDir, id.slice(2)))).toBe(await realpath(join(image, bin)));
  }

  const ids = await buildIds(image);
  const byPath = Object.fromEntries(ids.map((e) => [e.path, e.buildId]));
  expect(Object.keys(byPath).sort()).toEqual([
    'usr/lib/debug/usr/bin/hello-hard.debug',
    'usr/lib/debug/usr/bin/hello.debug',
    'usr/lib/debug/usr/lib64/libgreet.so.1.debug',
  ]);
  expect(byPath['usr/lib/debug/usr/bin/hello-hard.debug']).toBe(byPath['usr/lib/debug/usr/bin/hello.debug']);

  for (const pair of [
    ['usr/bin/hello', 'usr/bin/hello-hard'],
    ['usr/lib/debug/usr/bin/hello.debug', 'usr/lib/debug/usr/bin/hello-hard.debug'],
  ]) {
    const [a, b] = await Promise.all(pair.map((p) => stat(join(image, p))));
    expect(a!.ino, `${pair[0]} and ${pair[1]} share an inode`).toBe(b!.ino);
    expect(a!.nlink).toBe(2);
  }
}

describe.skipIf(!hasTools)('hello image', () => {
  let image: string;
  beforeAll(async () => {
    image = await makeImage('hello');
  });

  it('has exactly the layout estrip leaves', async () => {
    expect(await listing(image)).toEqual(sorted(expectedHello(await binaryBuildIds(image))));
  });

  it('keeps the estrip invariants (build-id links, hardlinks)', async () => {
    await checkEstripLayout(image);
  });

  it('strips the binaries down to a .gnu_debuglink', async () => {
    for (const bin of BINARIES) {
      const { stdout: sections } = await execa('readelf', ['-S', '-W', '--', join(image, bin)]);
      expect(sections).not.toMatch(/\.debug_/);
      const { stdout: link } = await execa('readelf', ['--string-dump=.gnu_debuglink', '--', join(image, bin)]);
      expect(link).toContain(`${bin.split('/').pop()}.debug`);
    }
  });

  it('has DWARF that names the installed sources under /usr/src/debug', async () => {
    const hello = join(image, 'usr/lib/debug/usr/bin/hello.debug');
    const { stdout: info } = await execa('readelf', ['--debug-dump=info', '--', hello]);
    expect(info).toMatch(/DW_AT_comp_dir\s*:.*\/usr\/src\/debug\/app-misc\/hello-1\.0$/m);

    const named = new Set<string>();
    for (const bin of BINARIES) {
      for (const f of await dwarfSources(join(image, 'usr/lib/debug', `${bin}.debug`))) named.add(f);
    }
    const ours = [...named].filter((f) => f.startsWith(`/${SRC_DIR}/`)).sort();
    expect(ours).toEqual(SOURCES.map((f) => `/${SRC_DIR}/${f}`).sort());
    // Everything else the DWARF names is a system header.
    expect([...named].filter((f) => !ours.includes(f)).every((f) => f.startsWith('/usr/include/'))).toBe(true);
  });

  it('has no trace of the directory it was built in', async () => {
    const srcDir = await realpath(fileURLToPath(new URL('../fixtures/src/hello', import.meta.url)));
    for (const { path, type } of await walkTree(image)) {
      if (type !== 'file') continue;
      expect((await readFile(join(image, path))).includes(srcDir), path).toBe(false);
    }
  });

  it('has every mtime at @1700000000', async () => {
    for (const { path } of await walkTree(image)) {
      expect((await lstat(join(image, path))).mtimeMs, path || '.').toBe(MTIME * 1000);
    }
  });

  it('gives every makeImage call its own copy', async () => {
    const other = await makeImage('hello');
    expect(other).not.toBe(image);
    await writeFile(join(other, SRC_DIR, 'hello.c'), 'changed\n');
    expect(await readFile(join(image, SRC_DIR, 'hello.c'), 'utf8')).toContain('int main');
  });
});

describe.skipIf(!hasTools)('odd image', () => {
  let image: string;
  beforeAll(async () => {
    image = await makeImage('odd');
  });

  const deepDir = `${SRC_DIR}/deeply/nested/source/directories/that/push/the/member/name/past/one/hundred/bytes`;
  const longName =
    `${SRC_DIR}/a-single-file-name-component-that-is-longer-than-the-` +
    'one-hundred-byte-ustar-name-field-so-it-needs-pax.c';

  it('is the hello image plus the odd cases', async () => {
    const expected = [
      ...expectedHello(await binaryBuildIds(image)),
      ...dirs('usr/lib/debug/usr/share/empty-owned', 'usr/lib/empty-outside', deepDir),
      ...dirs(`${SRC_DIR}/odd names/dir with spaces`, `${SRC_DIR}/empty-kept`),
      'symlink ---- usr/lib/debug/usr/lib64/dangling.debug -> ../../../../usr/lib64/does-not-exist',
      'symlink ---- usr/lib/debug/usr/lib64/libgreet.so.debug -> libgreet.so.1.debug',
      'symlink ---- usr/lib/debug/usr/lib64/abs.debug -> /usr/lib/debug/usr/bin/hello.debug',
      'file 0644 usr/lib/debug/usr/lib64/big.debug',
      `file 0644 ${SRC_DIR}/odd names/dir with spaces/main file.c`,
      `file 0644 ${deepDir}/deep.c`,
      `file 0644 ${longName}`,
      `file 0600 ${SRC_DIR}/secret.h`,
      `file 0755 ${SRC_DIR}/gen.sh`,
      `file 0644 ${SRC_DIR}/empty-kept/.keepdir`,
    ];
    expect(await listing(image)).toEqual(sorted([...new Set(expected)]));
    await checkEstripLayout(image);
  });

  it('has names that need a ustar prefix or a pax header', () => {
    const deepFile = `${deepDir}/deep.c`;
    expect(Buffer.byteLength(deepFile)).toBeGreaterThan(100);
    expect(deepFile.split('/').every((c) => c.length <= 100)).toBe(true);
    expect(Buffer.byteLength(longName.split('/').pop()!)).toBeGreaterThan(100);
  });

  it('has empty directories, an empty .keepdir and a dangling symlink', async () => {
    for (const d of ['usr/lib/debug/usr/share/empty-owned', 'usr/lib/empty-outside']) {
      expect((await walkTree(join(image, d))).map((e) => e.path)).toEqual(['']);
    }
    expect((await stat(join(image, SRC_DIR, 'empty-kept/.keepdir'))).size).toBe(0);
    await expect(stat(join(image, 'usr/lib/debug/usr/lib64/dangling.debug'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await realpath(join(image, 'usr/lib/debug/usr/lib64/libgreet.so.debug'))).toBe(
      await realpath(join(image, 'usr/lib/debug/usr/lib64/libgreet.so.1.debug')),
    );
  });

  it('has a deterministic, moderately compressible 3 MiB big.debug', async () => {
    const big = await readFile(join(image, 'usr/lib/debug/usr/lib64/big.debug'));
    expect(big.length).toBe(3 * 1024 * 1024);
    expect(createHash('sha256').update(big).digest('hex')).toBe(
      '0d8f37356f39d4ce0f8971692d1ba75c0ce0311d3539e16478a40111deb21537',
    );
    const ratio = gzipSync(big, { level: 1 }).length / big.length;
    expect(ratio).toBeGreaterThan(0.2);
    expect(ratio).toBeLessThan(0.6);
  });
});

describe.skipIf(!hasTools)('fixtures/hello-image.tar', () => {
  it('is small and stores hardlinks and symlinks as such', async () => {
    expect((await stat(HELLO_IMAGE_TAR)).size).toBeLessThan(150 * 1024);
    const types = new Map<string, string>();
    await tar.t({ file: HELLO_IMAGE_TAR, onReadEntry: (e) => void types.set(e.path, e.type) });
    // --sort=name puts hello-hard.debug first, so hello.debug is the link.
    expect(types.get('./usr/bin/hello-hard')).toBe('Link');
    expect(types.get('./usr/lib/debug/usr/bin/hello.debug')).toBe('Link');
    const links = [...types].filter(([p]) => p.startsWith('./usr/lib/debug/.build-id/') && !p.endsWith('/'));
    expect(links).toHaveLength(4);
    expect(links.every(([, t]) => t === 'SymbolicLink')).toBe(true);
  });

  it('extracts with node-tar to a hello image like the script builds', async () => {
    const out = await tmpdir('hello-tar');
    // node-tar does not apply the './' entry to cwd itself (mkdtemp made it 0700).
    await chmod(out, 0o755);
    await tar.x({ file: HELLO_IMAGE_TAR, cwd: out, preservePaths: false });
    expect(await listing(out)).toEqual(sorted(expectedHello(await binaryBuildIds(out))));
    await checkEstripLayout(out);

    // Build-ids depend on the compiler; the names around them must not.
    const anonymous = (lines: string[]) =>
      sorted([
        ...new Set(
          lines.map((l) => l.replace(/\.build-id\/[0-9a-f]{2}/, '.build-id/XX').replace(/\/[0-9a-f]{38}/, '/ID')),
        ),
      ]);
    expect(anonymous(await listing(out))).toEqual(anonymous(await listing(await makeImage('hello'))));
  });
});
