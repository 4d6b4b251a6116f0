/**
 * Faults: a destination that runs out of space, an interrupted run and an
 * existing tarball that disagrees with the image must each leave no file
 * under the final name, no temporary file, and the image exactly as it was
 * (every entry's type, mode, size, mtime, link count, symlink target and
 * content hash), and `--remove-packed` must not remove anything then.
 *
 * ENOSPC comes from small tmpfs mounts (the tests run as root; without the
 * privilege to mount, these tests are skipped locally and fail in CI).
 * The CLI runs from dist/ (built by `pretest`; run `npm run build` first when
 * running this file alone).
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rmdir, statfs, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { makeImage, tmpdir, walkTree } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO, 'dist/cli.js');
const IDENTITY_ARGS = ['--category', 'app-misc', '--pn', 'hello', '--pf', 'hello-1.0', '--build-id', '1'];
const TARBALL_NAME = 'hello-1.0-1-debug.tar.xz';
const DEFAULT_TARBALL = `usr/lib/debug/.tarball/app-misc/hello/${TARBALL_NAME}`;
const FIXTURE_MTIME = 1700000000;
const IN_CI = process.env.CI === 'true';

const hasTools = ['mount', 'umount', 'cp', 'du', 'tar', 'xz', 'bash'].map(requireTool).every(Boolean);

function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  delete env['SOURCE_DATE_EPOCH'];
  return env;
}

function runCli(image: string, args: string[]) {
  return execa('node', [CLI, 'pack', '--image', image, ...IDENTITY_ARGS, ...args], {
    env: cliEnv(),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 120_000,
    killSignal: 'SIGKILL',
  });
}

// ---------------------------------------------------------------------------
// Image snapshots
// ---------------------------------------------------------------------------

/**
 * One line per entry of the whole image: type, mode, nlink, size, mtime (ns),
 * sha256 or target. With `tarballDirMtimes: false` the mtimes of directories
 * inside usr/lib/debug/.tarball are left out: writing a temporary file beside
 * an existing tarball necessarily touches its directory, which is never packed.
 */
async function snapshot(image: string, { tarballDirMtimes = true } = {}): Promise<string[]> {
  const lines: string[] = [];
  for (const { path, type } of await walkTree(image)) {
    const abs = join(image, path);
    const st = await lstat(abs, { bigint: true });
    let what = '';
    if (type === 'file')
      what = createHash('sha256')
        .update(await readFile(abs))
        .digest('hex');
    else if (type === 'symlink') what = `-> ${await readlink(abs)}`;
    const mode = (st.mode & 0o7777n).toString(8);
    const mtime =
      !tarballDirMtimes && type === 'dir' && path.startsWith('usr/lib/debug/.tarball/') ? '(ignored)' : st.mtimeNs;
    lines.push(
      `${path || '.'} ${type} ${mode} nlink=${st.nlink} size=${type === 'dir' ? '-' : st.size} mtime=${mtime} ${what}`,
    );
  }
  return lines;
}

/** Temporary files packdebug may have left: dotfiles ending in .tmp, anywhere below `root`. */
async function tempFiles(root: string): Promise<string[]> {
  const exists = await lstat(root).then(
    () => true,
    () => false,
  );
  if (!exists) return [];
  return (await walkTree(root)).map((e) => e.path).filter((p) => /(^|\/)\.[^/]*\.tmp$/.test(p));
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '');
}

// ---------------------------------------------------------------------------
// tmpfs mounts
// ---------------------------------------------------------------------------

const mounted = new Set<string>();

afterAll(async () => {
  // Only reached when a test died between mount and its own finally.
  for (const dir of [...mounted]) {
    await execa('umount', [dir], { reject: false });
    await rmdir(dir).catch(() => undefined);
  }
});

/**
 * Runs `fn` with a fresh tmpfs of `sizeKiB` mounted on a new directory;
 * unmounts it afterwards. When mounting is not possible the test is skipped
 * (locally) or fails (CI=true).
 */
async function withTmpfs<T>(ctx: TestContext, sizeKiB: number, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(os.tmpdir(), 'packdebug-tmpfs-'));
  const m = await execa('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0755`, 'tmpfs', dir], {
    reject: false,
    stdin: 'ignore',
  });
  if (m.exitCode !== 0) {
    await rmdir(dir).catch(() => undefined);
    const reason = `cannot mount a tmpfs (needs root): ${String(m.stderr || m.message || '').trim()}`;
    if (IN_CI) throw new Error(reason);
    ctx.skip(reason);
  }
  mounted.add(dir);
  try {
    return await fn(dir);
  } finally {
    const u = await execa('umount', [dir], { reject: false });
    if (u.exitCode === 0) {
      mounted.delete(dir);
      await rmdir(dir).catch(() => undefined);
    }
  }
}

async function duKiB(path: string): Promise<number> {
  const { stdout } = await execa('du', ['-sk', '--', path]);
  return Number(stdout.split('\t')[0]);
}

// ---------------------------------------------------------------------------
// (a) + (c): no space left on the destination
// ---------------------------------------------------------------------------

describe('no space left on the destination', () => {
  it.skipIf(!hasTools).for([false, true])(
    '--out on a full 64 KiB tmpfs (--remove-packed: %s): fails cleanly, image unchanged',
    async (removePacked, ctx) => {
      const image = await makeImage('odd');
      const before = await snapshot(image);
      await withTmpfs(ctx, 64, async (dir) => {
        const out = join(dir, 'x.tar.xz');
        const r = await runCli(image, ['--out', out, ...(removePacked ? ['--remove-packed'] : [])]);
        expect(r.exitCode, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBe(0);
        expect(r.signal).toBeUndefined();
        const lines = errorLines(r.stderr);
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(/no space/i);
        expect(await exists(out)).toBe(false);
        expect(await readdir(dir)).toEqual([]);
      });
      expect(await snapshot(image)).toEqual(before);
    },
  );

  it.skipIf(!hasTools).for([false, true])(
    'default --out inside an image on a tmpfs with room for the image but not the tarball (--remove-packed: %s)',
    async (removePacked, ctx) => {
      const source = await makeImage('odd');
      // The odd image holds about 3.2 MiB; its tarball about 0.85 MiB. Leave 256 KiB free.
      const size = (await duKiB(source)) + 256;
      await withTmpfs(ctx, size, async (dir) => {
        const cp = await execa('cp', ['-a', '--', source, dir], { reject: false });
        expect(cp.exitCode, `the image should fit on a ${size} KiB tmpfs: ${cp.stderr}`).toBe(0);
        const image = join(dir, 'image');
        const fsStat = await statfs(dir);
        const free = fsStat.bavail * fsStat.bsize;
        expect(free, 'free space left on the tmpfs must be less than the tarball needs').toBeLessThan(600 * 1024);
        const before = await snapshot(image);

        const r = await runCli(image, removePacked ? ['--remove-packed'] : []);
        expect(r.exitCode, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBe(0);
        expect(r.signal).toBeUndefined();
        const lines = errorLines(r.stderr);
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(/no space/i);
        expect(await exists(join(image, DEFAULT_TARBALL))).toBe(false);
        expect(await tempFiles(image)).toEqual([]);
        // The output directories it created are gone again (no empty .tarball left behind).
        expect(await exists(join(image, 'usr/lib/debug/.tarball'))).toBe(false);
        expect(await snapshot(image)).toEqual(before);
      });
    },
  );
});

// ---------------------------------------------------------------------------
// (b): interrupted by SIGINT / SIGTERM
// ---------------------------------------------------------------------------

/** Fills `buf` from a xorshift32 generator: incompressible, but the same bytes on every run. */
function fillDeterministic(buf: Buffer, seed: number): void {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    words[i] = s;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('an interrupted run', () => {
  let bigSource: string;

  beforeAll(async () => {
    if (!hasTools) return;
    // The odd image plus 30 MiB of incompressible data files: at -9e with one
    // thread it takes half a minute to pack, so a signal lands mid-write.
    bigSource = await makeImage('odd');
    const lib64 = join(bigSource, 'usr/lib/debug/usr/lib64');
    const buf = Buffer.alloc(5 << 20);
    for (let i = 0; i < 6; i++) {
      fillDeterministic(buf, 0x9e3779b9 + i);
      const file = join(lib64, `data${i}.so.debug`);
      await writeFile(file, buf, { mode: 0o644 });
      await utimes(file, FIXTURE_MTIME, FIXTURE_MTIME);
    }
    await utimes(lib64, FIXTURE_MTIME, FIXTURE_MTIME);
  });

  /** Waits until the run has a temporary file with data in the output directory. */
  async function waitForTemp(dir: string, child: ResultPromise, state: { exited: boolean }): Promise<string> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (state.exited) {
        const r = await child;
        throw new Error(
          `packdebug exited (status ${r.exitCode}, signal ${r.signal}) ` +
            `before its temporary file appeared:\n${r.stderr}`,
        );
      }
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        if (!name.startsWith(`.${TARBALL_NAME}.`) || !name.endsWith('.tmp')) continue;
        const st = await lstat(join(dir, name)).catch(() => undefined);
        // Data in it: the Stream Header is written, so the run is past setting up its signal handlers.
        if (st && st.size > 0) return name;
      }
      await sleep(25);
    }
    throw new Error(`no temporary file appeared in ${dir} within 60 s`);
  }

  it.skipIf(!hasTools).each(['SIGINT', 'SIGTERM'] as const)(
    '%s mid-write: dies by the signal, no final file, no temp file, image unchanged',
    async (signal) => {
      const holder = await tmpdir(`interrupt-${signal}`);
      await execa('cp', ['-a', '--', bigSource, holder]);
      const image = join(holder, 'image');
      const outDir = join(image, dirname(DEFAULT_TARBALL));
      const before = await snapshot(image);

      const child = runCli(image, ['--preset', '9e', '--threads', '1', '--encoder', 'lzma-native']);
      const state = { exited: false };
      void child.finally(() => {
        state.exited = true;
      });
      try {
        const temp = await waitForTemp(outDir, child, state);
        expect(temp).toMatch(/^\.hello-1\.0-1-debug\.tar\.xz\..+\.tmp$/);
        child.kill(signal);
        const finished = await Promise.race([child.then(() => true), sleep(30_000).then(() => false)]);
        if (!finished) throw new Error(`packdebug still running 30 s after ${signal}`);
      } finally {
        if (!state.exited) {
          child.kill('SIGKILL');
          await child;
        }
      }
      const r = await child;
      const exitCode = { SIGINT: 130, SIGTERM: 143 }[signal];
      expect(
        r.signal === signal || r.exitCode === exitCode || r.exitCode === 130,
        `exit ${r.exitCode}, signal ${r.signal}, stderr: ${r.stderr}`,
      ).toBe(true);
      expect(await exists(join(image, DEFAULT_TARBALL))).toBe(false);
      expect(await tempFiles(image)).toEqual([]);
      // The image had no .tarball directory: the ones created for the output must be gone too.
      const leftovers = (await walkTree(image))
        .map((e) => e.path)
        .filter((p) => p.startsWith('usr/lib/debug/.tarball'));
      expect(leftovers, `output directories left in the image after ${signal}`).toEqual([]);
      expect(await snapshot(image)).toEqual(before);
    },
  );
});

// ---------------------------------------------------------------------------
// (d): an existing tarball under the final name that disagrees with the image
// ---------------------------------------------------------------------------

describe('an existing tarball that differs from the image', () => {
  it.skipIf(!hasTools).each([false, true])(
    'is left byte-identical, the run fails naming it (--remove-packed: %s)',
    async (removePacked) => {
      const image = await makeImage('hello');
      // Portage's own command, run on a modified copy of the image.
      const modified = await makeImage('hello');
      const hello = join(modified, 'usr/src/debug/app-misc/hello-1.0/hello.c');
      await writeFile(hello, `${await readFile(hello, 'utf8')}/* changed */\n`);
      await utimes(hello, FIXTURE_MTIME, FIXTURE_MTIME);
      const final = join(image, DEFAULT_TARBALL);
      await mkdir(dirname(final), { recursive: true });
      await execa(
        'bash',
        ['-c', 'cd "$1" && tar -cJf - ./usr/src/debug ./usr/lib/debug > "$2"', 'bash', modified, final],
        { timeout: 60_000 },
      );
      const oldBytes = await readFile(final);
      const before = await snapshot(image, { tarballDirMtimes: false });

      const r = await runCli(image, removePacked ? ['--remove-packed'] : []);
      expect(r.exitCode, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBe(0);
      expect(r.signal).toBeUndefined();
      const lines = errorLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(final);
      expect((await readFile(final)).equals(oldBytes)).toBe(true);
      expect(await tempFiles(dirname(final))).toEqual([]);
      expect(await snapshot(image, { tarballDirMtimes: false })).toEqual(before);
    },
  );
});

// ---------------------------------------------------------------------------
// (e): from-binpkg with no room for its spill file
// ---------------------------------------------------------------------------

describe('from-binpkg with a full --tmpdir', () => {
  it.skipIf(!hasTools || !requireTool('zstd'))(
    'fails that binpkg with a one-line no-space error, writes no tarball, leaves nothing in TMPDIR',
    async (ctx) => {
      const { makeGpkg } = await import('./helpers/binpkg.js');
      const image = await makeImage('hello');
      // 1 MiB of incompressible debug data: more than the 64 KiB tmpfs holds.
      await writeFile(
        join(image, 'usr/lib/debug/usr/bin/blob.debug'),
        createHash('sha512').update('x').digest().toString('hex').repeat(8192),
      );
      const pkgdir = await tmpdir('faults-binpkg');
      const file = await makeGpkg(image, join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'), {
        category: 'app-misc',
        pf: 'hello-1.0',
        buildNumber: '1',
      });
      const before = await readFile(file);
      const tree = await tmpdir('faults-binpkg-tree');
      await withTmpfs(ctx, 64, async (tmp) => {
        const r = await execa(
          'node',
          [join(REPO, 'dist/cli.js'), 'from-binpkg', pkgdir, '--out', tree, '--tmpdir', tmp],
          { reject: false, stdin: 'ignore', env: { PACKDEBUG_CACHE_DIR: '' } },
        );
        expect(r.exitCode, r.stderr).toBe(1);
        const lines = errorLines(r.stderr);
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(/no space left on device/);
        expect(await readdir(tmp)).toEqual([]);
      });
      expect(await walkTree(tree)).toEqual([{ path: '', type: 'dir' }]);
      expect((await readFile(file)).equals(before)).toBe(true);
    },
  );
});

// ---------------------------------------------------------------------------
// repack on a full filesystem (issue 12, item 6)
// ---------------------------------------------------------------------------

describe('repack with a target on a full filesystem', () => {
  it.skipIf(!hasTools)(
    'reports the full one in one line (no stack), repacks the next one, exits 1; the original is kept',
    async (ctx) => {
      const { memoryIO } = await import('./helpers/io.js');
      const { runRepack } = await import('../src/commands/repack.js');
      const { portageTarball } = await import('./helpers/trees.js');
      const image = await makeImage('odd');
      const elsewhere = await tmpdir('faults-repack');
      const second = await portageTarball(image, join(elsewhere, 'app-misc/hello/hello-1.0-2-debug.tar.xz'));
      await withTmpfs(ctx, 1024, async (dir) => {
        // About 0.85 MiB: the original fits on the 1 MiB tmpfs, a second copy (the repacked one) does not.
        const first = await portageTarball(image, join(dir, 'hello-1.0-1-debug.tar.xz'));
        const bytes = await readFile(first);
        const io = memoryIO();
        expect(await runRepack({ targets: [first, second], blockSize: '16KiB', preset: '0', threads: 1 }, io)).toBe(1);
        const lines = errorLines(io.err());
        expect(lines, io.err()).toHaveLength(1);
        expect(lines[0]).toBe(`packdebug: ${first}: no space left on device while writing the repacked tarball`);
        expect(io.out()).toContain(`${second}: repacked`);
        expect(io.out()).toContain('1 repacked, 0 to repack, 0 already in the layout, 1 failed\n');
        expect((await readFile(first)).equals(bytes)).toBe(true);
        expect(await readdir(dir)).toEqual(['hello-1.0-1-debug.tar.xz']);
      });
    },
  );
});
