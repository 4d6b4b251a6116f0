/**
 * Interop with the standard tools: what `packdebug pack` writes must look to
 * GNU tar, xz(1) and node-tar exactly like the image's debug trees, the way
 * Portage's own `tar -cJf - ./usr/src/debug ./usr/lib/debug` would store them.
 *
 * The expected member list is computed here from the image itself (never from
 * the engine's own walk): usr/src/debug then usr/lib/debug, depth first,
 * children in byte order, directories with a trailing slash, the .tarball
 * directory left out, the first name of a hardlinked inode carrying the data.
 *
 * The CLI runs from dist/ (built by `pretest`; run `npm run build` first when
 * running this file alone).
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import * as tar from 'tar';
import { beforeAll, describe, expect, it } from 'vitest';
import { packImage } from '../src/pack/pack.js';
import { makeImage, tmpdir, walkTree } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO, 'dist/cli.js');
const IDENTITY = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' } as const;
const IDENTITY_ARGS = ['--category', 'app-misc', '--pn', 'hello', '--pf', 'hello-1.0', '--build-id', '1'];
const DEFAULT_TARBALL = 'usr/lib/debug/.tarball/app-misc/hello/hello-1.0-1-debug.tar.xz';
const DEBUG_ROOTS = ['usr/src/debug', 'usr/lib/debug'];
const TARBALL_DIR = 'usr/lib/debug/.tarball';
const SMALL_BLOCK = 64 * 1024;
const FIXTURE_MTIME = 1700000000;

const hasTools = ['tar', 'xz', 'diff', 'node'].map(requireTool).every(Boolean);

/** Environment for child processes: UTC, C locale, no inherited SOURCE_DATE_EPOCH. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', LC_ALL: 'C', ...extra };
  if (!('SOURCE_DATE_EPOCH' in extra)) delete env['SOURCE_DATE_EPOCH'];
  return env;
}

async function cliPack(image: string, args: string[] = [], env: Record<string, string> = {}) {
  return execa('node', [CLI, 'pack', '--image', image, ...IDENTITY_ARGS, ...args], {
    env: childEnv(env),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
  });
}

async function cliPackOk(image: string, args: string[] = [], env: Record<string, string> = {}): Promise<void> {
  const r = await cliPack(image, args, env);
  expect(r.exitCode, `packdebug pack failed:\n${r.stderr}`).toBe(0);
}

// ---------------------------------------------------------------------------
// The expected member list, from the image
// ---------------------------------------------------------------------------

interface Expected {
  /** Member name: `./usr/...`, directories with a trailing slash. */
  name: string;
  /** GNU tar's type letter: d, -, h (hardlink), l (symlink). */
  type: 'd' | '-' | 'h' | 'l';
  mode: number;
  size: number;
  mtime: number;
  /** Symlink target, or the member name a hardlink points at. */
  target: string;
}

async function expectedMembers(image: string): Promise<Expected[]> {
  const out: Expected[] = [];
  const firstName = new Map<string, string>();
  const visit = async (rel: string): Promise<void> => {
    const abs = join(image, rel);
    const st = await lstat(abs);
    const base = { mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) {
      out.push({ ...base, name: `./${rel}/`, type: 'd', size: 0, target: '' });
      const names = (await readdir(abs, { encoding: 'buffer' })).sort(Buffer.compare);
      for (const raw of names) {
        const child = `${rel}/${raw.toString('utf8')}`;
        if (child === TARBALL_DIR) continue;
        await visit(child);
      }
    } else if (st.isSymbolicLink()) {
      out.push({ ...base, name: `./${rel}`, type: 'l', size: 0, target: await readlink(abs) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? firstName.get(key) : undefined;
      if (first !== undefined) {
        out.push({ ...base, name: `./${rel}`, type: 'h', size: 0, target: first });
      } else {
        if (st.nlink > 1) firstName.set(key, `./${rel}`);
        out.push({ ...base, name: `./${rel}`, type: '-', size: st.size, target: '' });
      }
    } else {
      throw new Error(`${abs}: unexpected file type in a fixture image`);
    }
  };
  for (const root of DEBUG_ROOTS) {
    if (
      await lstat(join(image, root)).then(
        (s) => s.isDirectory(),
        () => false,
      )
    )
      await visit(root);
  }
  return out;
}

function permString(type: string, mode: number): string {
  const rwx = (bits: number, s: boolean, sChar: string) => {
    const exec = s ? (bits & 1 ? sChar : sChar.toUpperCase()) : bits & 1 ? 'x' : '-';
    return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${exec}`;
  };
  return (
    type +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}

// ---------------------------------------------------------------------------
// GNU tar's verbose listing
// ---------------------------------------------------------------------------

interface GnuLine {
  perms: string;
  owner: string;
  size: number;
  mtime: number;
  name: string;
  target: string;
  raw: string;
}

const GNU_LINE = /^([-dhlcbp][-rwxsStT]{9}) (\S+) +(\d+) (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) (.*)$/;

async function gnuList(tarball: string): Promise<GnuLine[]> {
  const { stdout } = await execa('tar', ['--utc', '--full-time', '-tvJf', tarball], {
    env: childEnv(),
    timeout: 60_000,
  });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((raw) => {
      const m = GNU_LINE.exec(raw);
      if (!m) throw new Error(`unparsed tar -tv line: ${JSON.stringify(raw)}`);
      const [, perms, owner, size, day, time, rest] = m as unknown as string[];
      let name = rest!;
      let target = '';
      if (perms!.startsWith('l')) {
        const at = rest!.indexOf(' -> ');
        name = rest!.slice(0, at);
        target = rest!.slice(at + 4);
      } else if (perms!.startsWith('h')) {
        const at = rest!.indexOf(' link to ');
        name = rest!.slice(0, at);
        target = rest!.slice(at + 9);
      }
      return {
        perms: perms!,
        owner: owner!,
        size: Number(size),
        mtime: Date.parse(`${day}T${time}Z`) / 1000,
        name,
        target,
        raw,
      };
    });
}

function describeExpected(e: Expected): string {
  const tail = e.type === 'l' ? ` -> ${e.target}` : e.type === 'h' ? ` link to ${e.target}` : '';
  return `${permString(e.type, e.mode)} root/root ${e.size} ${e.name}${tail}`;
}

function describeGnu(g: GnuLine): string {
  const tail = g.perms.startsWith('l') ? ` -> ${g.target}` : g.perms.startsWith('h') ? ` link to ${g.target}` : '';
  return `${g.perms} ${g.owner} ${g.size} ${g.name}${tail}`;
}

async function xzRobotList(tarball: string): Promise<{ streams: number; blocks: number; check: string }> {
  const { stdout } = await execa('xz', ['--robot', '-l', '--', tarball], { timeout: 60_000 });
  const file = stdout.split('\n').find((l) => l.startsWith('file\t'));
  if (file === undefined) throw new Error(`no 'file' line in xz --robot -l output:\n${stdout}`);
  const cols = file.split('\t');
  return { streams: Number(cols[1]), blocks: Number(cols[2]), check: cols[6]! };
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/** type, mode, size, mtime and target of every entry under `root` (without .tarball). */
async function treeMeta(root: string): Promise<string[]> {
  const lines: string[] = [];
  for (const { path, type } of await walkTree(root)) {
    if (path === '.tarball' || path.startsWith('.tarball/')) continue;
    const abs = join(root, path);
    const st = await lstat(abs);
    const target = type === 'symlink' ? ` -> ${await readlink(abs)}` : '';
    const mode = type === 'symlink' ? '' : ` ${(st.mode & 0o7777).toString(8)} @${Math.floor(st.mtimeMs / 1000)}`;
    lines.push(`${type}${mode} ${type === 'file' ? st.size : '-'} ${path || '.'}${target}`);
  }
  return lines;
}

// ---------------------------------------------------------------------------

describe.each(['hello', 'odd'] as const)('the %s image, packed by the CLI (--block-size 64KiB)', (kind) => {
  let image: string;
  let tarball: string;

  beforeAll(async () => {
    if (!hasTools) return;
    image = await makeImage(kind);
    await cliPackOk(image, ['--block-size', '64KiB']);
    tarball = join(image, DEFAULT_TARBALL);
  });

  it.skipIf(!hasTools)(
    'GNU tar -tvJf lists exactly the image members, in order, with types, modes, sizes, mtimes and root/root',
    async () => {
      const expected = await expectedMembers(image);
      const listed = await gnuList(tarball);

      // Names first, in order: the clearest diff when something is missing or extra.
      expect(listed.map((l) => l.name)).toEqual(expected.map((e) => e.name));
      // Sources before debug files, as Portage writes them.
      const firstLib = listed.findIndex((l) => l.name.startsWith('./usr/lib/debug/'));
      const lastSrc = listed.map((l) => l.name.startsWith('./usr/src/debug/')).lastIndexOf(true);
      if (firstLib >= 0 && lastSrc >= 0) expect(lastSrc).toBeLessThan(firstLib);
      expect(listed.some((l) => l.name.startsWith(`./${TARBALL_DIR}`))).toBe(false);

      expect(listed.map(describeGnu)).toEqual(expected.map(describeExpected));
      for (const l of listed) expect(l.owner, l.raw).toBe('root/root');
      expect(listed.map((l) => `${l.mtime} ${l.name}`)).toEqual(expected.map((e) => `${e.mtime} ${e.name}`));
    },
  );

  it.skipIf(!hasTools)(
    'stores the hardlink as a link and the build-id symlinks (dangling ones too) as symlinks',
    async () => {
      const listed = await gnuList(tarball);
      const byName = new Map(listed.map((l) => [l.name, l]));
      const hardData = byName.get('./usr/lib/debug/usr/bin/hello-hard.debug');
      const hardLink = byName.get('./usr/lib/debug/usr/bin/hello.debug');
      expect(hardData?.perms).toBe('-rw-r--r--');
      expect(hardLink?.raw).toMatch(
        new RegExp(
          String.raw`^hrw-r--r-- root/root +0 .* \./usr/lib/debug/usr/bin/hello\.debug ` +
            String.raw`link to \./usr/lib/debug/usr/bin/hello-hard\.debug$`,
        ),
      );

      const buildIdLinks = listed.filter(
        (l) => l.name.startsWith('./usr/lib/debug/.build-id/') && !l.name.endsWith('/'),
      );
      expect(buildIdLinks.length).toBe(4);
      for (const l of buildIdLinks) {
        expect(l.perms, l.raw).toBe('lrwxrwxrwx');
        expect(l.target, l.raw).toMatch(
          l.name.endsWith('.debug') ? /^\.\.\/\.\.\/usr\// : /^\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/usr\//,
        );
      }
      if (kind === 'odd') {
        expect(byName.get('./usr/lib/debug/usr/lib64/dangling.debug')?.target).toBe(
          '../../../../usr/lib64/does-not-exist',
        );
        expect(byName.get('./usr/lib/debug/usr/lib64/abs.debug')?.target).toBe('/usr/lib/debug/usr/bin/hello.debug');
        expect(byName.get('./usr/lib/debug/usr/lib64/libgreet.so.debug')?.target).toBe('libgreet.so.1.debug');
        expect(byName.get('./usr/lib/debug/usr/share/empty-owned/')?.perms).toMatch(/^d/);
        expect(byName.get('./usr/src/debug/app-misc/hello-1.0/secret.h')?.perms).toBe('-rw-------');
        expect(byName.get('./usr/src/debug/app-misc/hello-1.0/gen.sh')?.perms).toBe('-rwxr-xr-x');
      }
    },
  );

  it.skipIf(!hasTools)('xz -t passes; one Stream, CRC64', async () => {
    const t = await execa('xz', ['-t', '--', tarball], { reject: false, timeout: 60_000 });
    expect(t.exitCode, t.stderr).toBe(0);
    const info = await xzRobotList(tarball);
    expect(info.streams).toBe(1);
    expect(info.check).toBe('CRC64');
  });

  it.skipIf(!hasTools)('node-tar lists the same names and types', async () => {
    const dir = await tmpdir(`node-tar-${kind}`);
    const plain = join(dir, 'plain.tar');
    const { stdout } = await execa('xz', ['-dc', '--', tarball], {
      encoding: 'buffer',
      timeout: 60_000,
      maxBuffer: 256 << 20,
    });
    await writeFile(plain, stdout);
    const seen: string[] = [];
    await tar.t({
      file: plain,
      onReadEntry: (e) => seen.push(`${e.type} ${e.path}${e.linkpath ? ` -> ${e.linkpath}` : ''}`),
    });
    const typeName = { d: 'Directory', '-': 'File', h: 'Link', l: 'SymbolicLink' } as const;
    const expected = (await expectedMembers(image)).map(
      (e) => `${typeName[e.type]} ${e.name}${e.target ? ` -> ${e.target}` : ''}`,
    );
    expect(seen).toEqual(expected);
  });

  it.skipIf(!hasTools)('tar -xJf into an empty directory reproduces the debug trees', async () => {
    const dest = await tmpdir(`extract-${kind}`);
    const x = await execa('tar', ['-xJf', tarball, '-C', dest], { reject: false, env: childEnv(), timeout: 60_000 });
    expect(x.exitCode, x.stderr).toBe(0);
    expect(x.stderr).toBe('');

    // Nothing but the two debug roots.
    expect((await readdir(dest)).sort()).toEqual(['usr']);
    expect((await readdir(join(dest, 'usr'))).sort()).toEqual(['lib', 'src']);
    expect((await readdir(join(dest, 'usr/lib'))).sort()).toEqual(['debug']);
    expect((await readdir(join(dest, 'usr/src'))).sort()).toEqual(['debug']);

    // Contents: diff -r without following symlinks, everything but .tarball.
    const d1 = await execa(
      'diff',
      ['-r', '--no-dereference', join(image, 'usr/src/debug'), join(dest, 'usr/src/debug')],
      { reject: false },
    );
    expect(d1.exitCode, d1.stdout + d1.stderr).toBe(0);
    const libChildren = (await readdir(join(image, 'usr/lib/debug'))).filter((n) => n !== '.tarball').sort();
    expect((await readdir(join(dest, 'usr/lib/debug'))).sort()).toEqual(libChildren);
    for (const child of libChildren) {
      const d = await execa(
        'diff',
        ['-r', '--no-dereference', join(image, 'usr/lib/debug', child), join(dest, 'usr/lib/debug', child)],
        { reject: false },
      );
      expect(d.exitCode, d.stdout + d.stderr).toBe(0);
    }

    // Types, modes, sizes, mtimes and symlink targets, entry by entry.
    for (const root of DEBUG_ROOTS) {
      expect(await treeMeta(join(dest, root)), root).toEqual(await treeMeta(join(image, root)));
    }

    // The hardlink shares an inode again.
    const a = await lstat(join(dest, 'usr/lib/debug/usr/bin/hello.debug'));
    const b = await lstat(join(dest, 'usr/lib/debug/usr/bin/hello-hard.debug'));
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);

    if (kind === 'odd') {
      const src = 'usr/src/debug/app-misc/hello-1.0';
      for (const rel of [
        `${src}/odd names/dir with spaces/main file.c`,
        `${src}/deeply/nested/source/directories/that/push/the/member/name/past/one/hundred/bytes/deep.c`,
        `${src}/a-single-file-name-component-that-is-longer-than-the-` +
          'one-hundred-byte-ustar-name-field-so-it-needs-pax.c',
        `${src}/empty-kept/.keepdir`,
        'usr/lib/debug/usr/lib64/big.debug',
      ]) {
        expect(await sha256(join(dest, rel)), rel).toBe(await sha256(join(image, rel)));
      }
      expect(await readlink(join(dest, 'usr/lib/debug/usr/lib64/dangling.debug'))).toBe(
        '../../../../usr/lib64/does-not-exist',
      );
      expect(await readdir(join(dest, 'usr/lib/debug/usr/share/empty-owned'))).toEqual([]);
    }
  });
});

describe('Blocks and reproducibility (odd image)', () => {
  let image: string;
  let out: string;

  beforeAll(async () => {
    if (!hasTools) return;
    image = await makeImage('odd');
    out = await tmpdir('repro');
  });

  it.skipIf(!hasTools)(
    'xz --robot -l shows more than one Block with --block-size 64KiB (big.debug is 3 MiB)',
    async () => {
      const file = join(out, 'blocks.tar.xz');
      await cliPackOk(image, ['--block-size', '64KiB', '--out', file]);
      const info = await xzRobotList(file);
      expect(info.streams).toBe(1);
      expect(info.blocks).toBeGreaterThan(1);
      // The Stream Footer ends the file: its magic bytes are the last two.
      const bytes = await readFile(file);
      expect(bytes.subarray(-2).toString('latin1')).toBe('YZ');
    },
  );

  it.skipIf(!hasTools)('packing twice (from two copies of the image) gives byte-identical files', async () => {
    const second = await makeImage('odd');
    const a = join(out, 'twice-a.tar.xz');
    const b = join(out, 'twice-b.tar.xz');
    await cliPackOk(image, ['--block-size', '64KiB', '--out', a]);
    await cliPackOk(second, ['--block-size', '64KiB', '--out', b]);
    expect(await sha256(b)).toBe(await sha256(a));
    expect((await xzRobotList(a)).blocks).toBeGreaterThan(1);
  });

  it.skipIf(!hasTools)('--threads 1 and --threads 2 give byte-identical files', async () => {
    const a = join(out, 'threads-1.tar.xz');
    const b = join(out, 'threads-2.tar.xz');
    await cliPackOk(image, ['--block-size', '64KiB', '--threads', '1', '--out', a]);
    await cliPackOk(image, ['--block-size', '64KiB', '--threads', '2', '--out', b]);
    expect(await sha256(b)).toBe(await sha256(a));
  });

  it.skipIf(!hasTools)("encoder 'xz' and encoder 'lzma-native' give byte-identical files", async () => {
    const a = join(out, 'enc-xz.tar.xz');
    const b = join(out, 'enc-lzma-native.tar.xz');
    const ra = await packImage({ image, ...IDENTITY, out: a, blockSize: SMALL_BLOCK, threads: 2, encoder: 'xz' });
    const rb = await packImage({
      image,
      ...IDENTITY,
      out: b,
      blockSize: SMALL_BLOCK,
      threads: 2,
      encoder: 'lzma-native',
    });
    expect(ra.status).toBe('packed');
    expect(rb.status).toBe('packed');
    expect(rb.blocks).toBe(ra.blocks);
    expect(rb.compressedBytes).toBe(ra.compressedBytes);
    expect(await sha256(b)).toBe(await sha256(a));
    // And the same as the CLI with its defaults for the encoder.
    const c = join(out, 'enc-cli.tar.xz');
    await cliPackOk(image, ['--block-size', '64KiB', '--threads', '2', '--out', c]);
    expect(await sha256(c)).toBe(await sha256(a));
  });
});

describe('SOURCE_DATE_EPOCH', () => {
  const EPOCH = 1600000000; // before the fixtures' mtime (1700000000): every mtime is clamped

  it.skipIf(!hasTools)('CLI (environment): no member mtime exceeds it', async () => {
    const image = await makeImage('odd');
    const file = join(await tmpdir('sde-cli'), 'sde.tar.xz');
    await cliPackOk(image, ['--out', file, '--block-size', '64KiB'], { SOURCE_DATE_EPOCH: String(EPOCH) });
    const listed = await gnuList(file);
    expect(listed.length).toBe((await expectedMembers(image)).length);
    const late = listed.filter((l) => l.mtime > EPOCH).map((l) => l.raw);
    expect(late).toEqual([]);
  });

  it.skipIf(!hasTools)('API (sourceDateEpoch): no member mtime exceeds it', async () => {
    const image = await makeImage('odd');
    const file = join(await tmpdir('sde-api'), 'sde.tar.xz');
    const r = await packImage({ image, ...IDENTITY, out: file, blockSize: SMALL_BLOCK, sourceDateEpoch: EPOCH });
    expect(r.status).toBe('packed');
    const listed = await gnuList(file);
    expect(listed.length).toBe((await expectedMembers(image)).length);
    expect(listed.filter((l) => l.mtime > EPOCH).map((l) => l.raw)).toEqual([]);
  });

  it.skipIf(!hasTools)('a SOURCE_DATE_EPOCH later than every mtime changes nothing', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('sde-late');
    await cliPackOk(image, ['--out', join(dir, 'plain.tar.xz')]);
    await cliPackOk(image, ['--out', join(dir, 'late.tar.xz')], { SOURCE_DATE_EPOCH: String(FIXTURE_MTIME + 1000) });
    expect(await sha256(join(dir, 'late.tar.xz'))).toBe(await sha256(join(dir, 'plain.tar.xz')));
  });
});
