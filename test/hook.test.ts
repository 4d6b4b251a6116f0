/**
 * `packdebug hook` and hooks/packdebug.bashrc.
 *
 * The first part runs runHook in-process with a stand-in pack engine. The
 * rest runs the real bashrc under bash in a simulated Portage preinst phase
 * (test/helpers/portage-phase.ts defines einfo/ewarn/eerror/die like Portage and calls
 * the phase hooks the way ebuild.sh's __ebuild_phase_with_hooks does), with
 * PACKDEBUG_BIN pointing at the built CLI (dist/cli.js, built by `pretest`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { runHook } from '../src/commands/hook.js';
import { memoryIO } from './helpers/io.js';
import { PackdebugError } from '../src/errors.js';
import type { PackOptions, PackResult } from '../src/pack/options.js';
import { makeImage, tmpdir, walkTree } from './helpers/images.js';
import { PREINST_HARNESS } from './helpers/portage-phase.js';
import { requireTool } from './helpers/tools.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BASHRC = join(REPO, 'hooks/packdebug.bashrc');
const CLI = join(REPO, 'dist/cli.js');

const CATEGORY = 'app-misc';
const PN = 'hello';
const PF = 'hello-1.0';
const TARBALL_DIR = `usr/lib/debug/.tarball/${CATEGORY}/${PN}`;
const tarballRel = (buildNumber: string) => `${TARBALL_DIR}/${PF}-${buildNumber}-debug.tar.xz`;

// ---------------------------------------------------------------------------
// runHook in-process
// ---------------------------------------------------------------------------

const ENV = {
  D: '/var/tmp/portage/app-misc/hello-1.0/image/',
  ED: '/var/tmp/portage/app-misc/hello-1.0/image',
  T: '/var/tmp/portage/app-misc/hello-1.0/temp',
  CATEGORY,
  PN,
  PF,
  BUILD_ID: '5',
  FEATURES: 'splitdebug binpkg-multi-instance',
  PORTAGE_BUILDDIR: '/var/tmp/portage/app-misc/hello-1.0',
  EBUILD_PHASE: 'preinst',
  NOCOLOR: 'true',
} satisfies NodeJS.ProcessEnv;

function packed(opts: PackOptions, extra: Partial<PackResult> = {}): PackResult {
  return {
    status: 'packed',
    tarball: join(opts.image, tarballRel(opts.buildNumber)),
    members: 21,
    uncompressedBytes: 3 * 1024 * 1024,
    compressedBytes: 300 * 1024,
    blocks: 4,
    removedFiles: 0,
    prunedDirs: 0,
    replaced: false,
    unchanged: false,
    ...extra,
  } as PackResult;
}

/** A stand-in engine recording the options it was called with. */
function fakeEngine(result: (opts: PackOptions) => PackResult | Promise<PackResult>) {
  const calls: PackOptions[] = [];
  const packImage = async (opts: PackOptions) => {
    calls.push(opts);
    return result(opts);
  };
  return { calls, packImage, readFile: () => undefined };
}

describe('runHook (in-process)', () => {
  it('passes the image, identity and PACKDEBUG_* settings to the engine', async () => {
    const engine = fakeEngine((o) => packed(o));
    const io = memoryIO({
      ...ENV,
      PACKDEBUG_PRESET: '9e',
      PACKDEBUG_THREADS: '3',
      PACKDEBUG_BLOCK_SIZE: '1MiB',
      PACKDEBUG_REMOVE_PACKED: '1',
      SOURCE_DATE_EPOCH: '1700000000',
    });
    expect(await runHook(engine, io)).toBe(0);
    expect(engine.calls).toHaveLength(1);
    const opts = engine.calls[0]!;
    expect(opts).toMatchObject({
      image: ENV.ED,
      category: CATEGORY,
      pn: PN,
      pf: PF,
      buildNumber: '5',
      preset: '9e',
      threads: 3,
      blockSize: 1024 * 1024,
      removePacked: true,
      sourceDateEpoch: 1700000000,
    });
    expect(opts.out).toBeUndefined(); // the default path, inside ${ED}
    expect(typeof opts.log?.info).toBe('function');
    expect(io.err()).toContain(` * packdebug: ${tarballRel('5')}: 21 members, 3 MiB of tar in 300 KiB, 4 xz Blocks\n`);
    expect(io.out()).toBe('');
  });

  it('leaves engine defaults alone when no PACKDEBUG_* is set', async () => {
    const engine = fakeEngine((o) => packed(o));
    expect(await runHook(engine, memoryIO({ ...ENV }))).toBe(0);
    const opts = engine.calls[0]!;
    for (const key of ['preset', 'threads', 'blockSize', 'removePacked', 'sourceDateEpoch', 'out'] as const) {
      expect(opts[key], key).toBeUndefined();
    }
  });

  it("says when it replaced Portage's native tarball and what it removed", async () => {
    const engine = fakeEngine((o) => packed(o, { replaced: true, removedFiles: 9, prunedDirs: 1 }));
    const io = memoryIO({ ...ENV, FEATURES: 'packdebug splitdebug', PACKDEBUG_REMOVE_PACKED: 'yes' });
    expect(await runHook(engine, io)).toBe(0);
    expect(io.err()).toContain("replaced Portage's native FEATURES=packdebug tarball");
    expect(io.err()).toContain('removed 9 packed files and 1 directory that this emptied');
  });

  it('is quiet about an image without debug info', async () => {
    const engine = fakeEngine(() => ({
      status: 'empty',
      members: 0,
      uncompressedBytes: 0,
      compressedBytes: 0,
      blocks: 0,
      removedFiles: 0,
      prunedDirs: 0,
      replaced: false,
      unchanged: false,
    }));
    const io = memoryIO({ ...ENV });
    expect(await runHook(engine, io)).toBe(0);
    expect(io.err()).toBe(' * packdebug: no debug info in the image of app-misc/hello-1.0, nothing to pack\n');
  });

  it('warns and succeeds without BUILD_ID (binpkg-multi-instance)', async () => {
    const engine = fakeEngine((o) => packed(o));
    const io = memoryIO({ ...ENV, BUILD_ID: '' });
    expect(await runHook(engine, io)).toBe(0);
    expect(engine.calls).toHaveLength(0);
    expect(io.err()).toMatch(/^ \* packdebug: no BUILD_ID for app-misc\/hello-1\.0, nothing packed/);
    expect(io.err()).toContain('FEATURES=binpkg-multi-instance');
  });

  it('takes BUILD_ID from build-info', async () => {
    const engine = fakeEngine((o) => packed(o));
    const readFile = (f: string) => (f === `${ENV.PORTAGE_BUILDDIR}/build-info/BUILD_ID` ? '12\n' : undefined);
    const io = memoryIO({ ...ENV, BUILD_ID: undefined });
    expect(await runHook({ packImage: engine.packImage, readFile }, io)).toBe(0);
    expect(engine.calls[0]?.buildNumber).toBe('12');
    expect(io.err()).toContain('(BUILD_ID from build-info)');
  });

  it('does nothing outside the preinst phase', async () => {
    const engine = fakeEngine((o) => packed(o));
    const io = memoryIO({ ...ENV, EBUILD_PHASE: 'install' });
    expect(await runHook(engine, io)).toBe(0);
    expect(engine.calls).toHaveLength(0);
    expect(io.err()).toMatch(/^ \* packdebug: nothing done in the install phase: the hook belongs in pre_pkg_preinst/);
  });

  it('turns errors into one eerror line and an exit status, never a throw', async () => {
    const cases: [NodeJS.ProcessEnv, () => never, number, RegExp][] = [
      [
        { PACKDEBUG_THREADS: 'abc' },
        () => {
          throw new Error('unreached');
        },
        2,
        /PACKDEBUG_THREADS=abc: not a positive integer/,
      ],
      [
        { BUILD_ID: 'x1' },
        () => {
          throw new Error('unreached');
        },
        2,
        /invalid BUILD_ID 'x1'/,
      ],
      [
        {},
        () => {
          throw new PackdebugError('E_UNSAFE', 'usr/lib/debug/x.fifo: not a regular file,\ndirectory or symlink');
        },
        1,
        /x\.fifo: not a regular file, directory or symlink$/,
      ],
      [
        {},
        () => {
          throw new PackdebugError('E_VERIFY', 'tarball differs');
        },
        1,
        /tarball differs$/,
      ],
      [
        {},
        () => {
          throw new TypeError('boom');
        },
        1,
        /packdebug: unexpected error: boom$/,
      ],
    ];
    for (const [env, fail, status, message] of cases) {
      const io = memoryIO({ ...ENV, ...env });
      const rc = await runHook({ packImage: async () => fail(), readFile: () => undefined }, io);
      expect(rc, JSON.stringify(env)).toBe(status);
      const lines = io.err().trimEnd().split('\n');
      expect(lines, io.err()).toHaveLength(1);
      expect(lines[0]).toMatch(/^ \* packdebug: /);
      expect(lines[0]).toMatch(message);
    }
  });

  it('prints in colour under NOCOLOR=false', async () => {
    const engine = fakeEngine(() => {
      throw new PackdebugError('E_IO', 'disk on fire');
    });
    const io = memoryIO({ ...ENV, NOCOLOR: 'false' });
    expect(await runHook(engine, io)).toBe(1);
    expect(io.err()).toBe(' \x1b[31;01m*\x1b[0m packdebug: disk on fire\n');
  });
});

// ---------------------------------------------------------------------------
// The bashrc under bash, in a simulated Portage preinst phase
// ---------------------------------------------------------------------------

interface Build {
  /** PORTAGE_BUILDDIR */
  builddir: string;
  /** ${D} (with its trailing slash, as Portage gives it) */
  d: string;
  /** ${ED} */
  ed: string;
  t: string;
}

interface PhaseResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const hasTools = ['bash', 'xz', 'tar', 'mkfifo', 'node', 'gcc', 'objcopy', 'strip', 'readelf']
  .map(requireTool)
  .every(Boolean);

describe.skipIf(!hasTools)('hooks/packdebug.bashrc in a simulated preinst phase', () => {
  let bin: string;
  let harness: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it in pretest)`);
    const dir = await tmpdir('hook-bin');
    bin = join(dir, 'packdebug');
    await writeFile(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
    await chmod(bin, 0o755);
    harness = join(dir, 'harness.sh');
    await writeFile(harness, PREINST_HARNESS);
  });

  /** A build directory like Portage's: image/ (= D = ED), temp/, build-info/. */
  async function newBuild(kind: 'hello' | 'odd' = 'hello', eprefix = ''): Promise<Build> {
    const image = await makeImage(kind);
    const builddir = dirname(image);
    let ed = image;
    if (eprefix !== '') {
      // Gentoo Prefix: the package's files live under ${D}${EPREFIX}.
      const staged = join(builddir, 'staged');
      await rename(image, staged);
      ed = join(image, eprefix);
      await mkdir(dirname(ed), { recursive: true });
      await rename(staged, ed);
    }
    const t = join(builddir, 'temp');
    await mkdir(t);
    await mkdir(join(builddir, 'build-info'));
    return { builddir, d: `${image}/`, ed, t };
  }

  /**
   * The user's /etc/portage/bashrc: PACKDEBUG_* assignments (shell variables,
   * not exported), then `before`, the source line, then `after`.
   */
  async function bashrc(
    build: Build,
    opts: { vars?: Record<string, string>; before?: string; after?: string; sourceTwice?: boolean } = {},
  ) {
    const vars = { PACKDEBUG_BIN: bin, ...opts.vars };
    const lines = Object.entries(vars).map(([k, v]) => `${k}=${shellQuote(v)}`);
    if (opts.before) lines.push(opts.before);
    lines.push(`source ${shellQuote(BASHRC)}`);
    if (opts.sourceTwice) lines.push(`source ${shellQuote(BASHRC)}`);
    if (opts.after) lines.push(opts.after);
    const file = join(build.builddir, 'bashrc');
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  }

  async function preinst(
    build: Build,
    opts: { env?: NodeJS.ProcessEnv; bashrc?: string; savedEnv?: string; saveEnvTo?: string; eprefix?: string } = {},
  ): Promise<PhaseResult> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NOCOLOR: 'true',
      D: build.d,
      ED: build.ed,
      EPREFIX: opts.eprefix ?? '',
      T: build.t,
      CATEGORY,
      PN,
      PF,
      BUILD_ID: '1',
      FEATURES: 'splitdebug installsources binpkg-multi-instance buildpkg',
      PORTAGE_BUILDDIR: build.builddir,
      EBUILD_PHASE: 'preinst',
      HARNESS_BASHRC: opts.bashrc ?? '',
      HARNESS_ENV: opts.savedEnv ?? '',
      HARNESS_SAVE_ENV: opts.saveEnvTo ?? '',
      ...opts.env,
    };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const r = await execa('bash', [harness], { env, extendEnv: false, reject: false, cwd: build.builddir });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  function expectCompleted(r: PhaseResult) {
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('phase completed');
    expect(r.stdout).not.toContain('QA:');
  }

  async function xzBlocks(file: string): Promise<number> {
    const { stdout } = await execa('xz', ['--robot', '--list', file]);
    const line = stdout.split('\n').find((l) => l.startsWith('file\t'));
    return Number(line?.split('\t')[2]);
  }

  async function members(file: string): Promise<string[]> {
    const { stdout } = await execa('tar', ['-tJf', file]);
    return stdout.split('\n').filter(Boolean).sort();
  }

  async function sha256(file: string): Promise<string> {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  }

  /** Type and content hash of every entry under root, except below `except`. */
  async function snapshot(root: string, except?: string): Promise<string[]> {
    const out: string[] = [];
    for (const { path, type } of await walkTree(root)) {
      if (except !== undefined && (path === except || path.startsWith(`${except}/`))) continue;
      out.push(`${type} ${path} ${type === 'file' ? await sha256(join(root, path)) : ''}`);
    }
    return out;
  }

  /** Adds an incompressible-enough 256 KiB source so 64 KiB Blocks make several. */
  async function addFiller(build: Build) {
    const lines: string[] = [];
    for (let i = 0; i < 4096; i++) lines.push(`/* ${createHash('md5').update(String(i)).digest('hex')} ${i} */`);
    await writeFile(
      join(build.ed, `usr/src/debug/${CATEGORY}/${PF}/filler.c`),
      `${lines.join('\n')}\n`.padEnd(256 * 1024, ' '),
    );
  }

  it('writes the tarball at the right path and touches nothing outside ${ED}', async () => {
    const build = await newBuild();
    const rc = await bashrc(build);
    const outside = await snapshot(build.builddir, 'image');
    const debugBefore = await snapshot(join(build.ed, 'usr/lib/debug'));
    const r = await preinst(build, { bashrc: rc });
    expectCompleted(r);
    const tarball = join(build.ed, tarballRel('1'));
    expect((await stat(tarball)).isFile()).toBe(true);
    expect(r.stderr).toContain(` * packdebug: ${tarballRel('1')}: `);
    expect(await readdir(join(build.ed, TARBALL_DIR))).toEqual([`${PF}-1-debug.tar.xz`]);
    // The debug files stay (no PACKDEBUG_REMOVE_PACKED), nothing else appeared.
    expect(await snapshot(join(build.ed, 'usr/lib/debug'), '.tarball')).toEqual(debugBefore);
    expect(await snapshot(build.builddir, 'image')).toEqual(outside);
    expect(await readdir(build.t)).toEqual([]);
    const names = await members(tarball);
    expect(names).toContain('./usr/lib/debug/usr/bin/hello.debug');
    expect(names).toContain(`./usr/src/debug/${CATEGORY}/${PF}/hello.c`);
    expect(names.some((n) => n.includes('.tarball'))).toBe(false);
  });

  it('PACKDEBUG_REMOVE_PACKED=1 prunes only what packing emptied', async () => {
    const build = await newBuild();
    await mkdir(join(build.ed, 'usr/lib/empty-owned'));
    await mkdir(join(build.ed, 'usr/share/empty-owned'), { recursive: true });
    const rc = await bashrc(build, { vars: { PACKDEBUG_REMOVE_PACKED: '1' } });
    const r = await preinst(build, { bashrc: rc });
    expectCompleted(r);
    expect(r.stderr).toMatch(/removed \d+ packed files and \d+ director(y|ies) that this emptied/);
    const tree = await walkTree(build.ed);
    const paths = tree.map((e) => e.path);
    // Owned empty directories outside the debug roots stay (Portage's own
    // `find ./lib ./src -type d -empty -exec rmdir -p` would remove them).
    expect(paths).toContain('usr/lib/empty-owned');
    expect(paths).toContain('usr/share/empty-owned');
    expect(paths).toContain('usr/bin/hello');
    expect(paths).toContain('usr/lib64/libgreet.so.1');
    expect(paths).not.toContain('usr/src/debug');
    // Under usr/lib/debug only the tarball remains.
    const left = tree.filter((e) => e.path.startsWith('usr/lib/debug/') && e.type !== 'dir').map((e) => e.path);
    expect(left).toEqual([tarballRel('1')]);
    expect(tree.filter((e) => e.path.startsWith('usr/src/') && e.type !== 'dir')).toEqual([]);
  });

  it('is idempotent: a second run leaves the same bytes and succeeds', async () => {
    const build = await newBuild();
    const rc = await bashrc(build, { vars: { PACKDEBUG_THREADS: '2' } });
    expectCompleted(await preinst(build, { bashrc: rc }));
    const tarball = join(build.ed, tarballRel('1'));
    const first = await sha256(tarball);
    const r = await preinst(build, { bashrc: rc });
    expectCompleted(r);
    expect(r.stderr).not.toMatch(/failed|ERROR/);
    expect(r.stderr).toContain(` * packdebug: ${tarballRel('1')}: `);
    expect(
      await sha256(tarball),
      'the second run must reproduce the first tarball byte for byte (a difference here is usually the ' +
        'mtime of ./usr/lib/debug/, which creating usr/lib/debug/.tarball changes after the first walk)',
    ).toBe(first);
    expect(await readdir(join(build.ed, TARBALL_DIR))).toEqual([`${PF}-1-debug.tar.xz`]);
  });

  it('without BUILD_ID anywhere: warns about binpkg-multi-instance, writes nothing, succeeds', async () => {
    const build = await newBuild();
    const rc = await bashrc(build);
    const before = await snapshot(build.builddir);
    const r = await preinst(build, { bashrc: rc, env: { BUILD_ID: '', FEATURES: 'splitdebug' } });
    expectCompleted(r);
    expect(r.stderr).toContain('no BUILD_ID for app-misc/hello-1.0, nothing packed');
    expect(r.stderr).toContain('binpkg-multi-instance');
    expect(await snapshot(build.builddir)).toEqual(before);
  });

  it('takes BUILD_ID from build-info when the environment lacks it (binpkg merge)', async () => {
    const build = await newBuild();
    await writeFile(join(build.builddir, 'build-info/BUILD_ID'), '7\n');
    const rc = await bashrc(build);
    const r = await preinst(build, { bashrc: rc, env: { BUILD_ID: undefined } });
    expectCompleted(r);
    expect((await stat(join(build.ed, tarballRel('7')))).isFile()).toBe(true);
    expect(r.stderr).toContain('(BUILD_ID from build-info)');
  });

  /** A build whose image already holds Portage's native tarball, made as __generate_packdebug makes it. */
  async function nativeBuild() {
    const build = await newBuild();
    await addFiller(build);
    // tar in ${ED} into ${T}, then move it into the image.
    const native = join(build.t, 'native.tar.xz');
    await execa('tar', ['-cJf', native, './usr/src/debug', './usr/lib/debug'], { cwd: build.ed });
    await mkdir(join(build.ed, TARBALL_DIR), { recursive: true });
    const tarball = join(build.ed, tarballRel('1'));
    await rename(native, tarball);
    return { build, tarball };
  }

  it("replaces Portage's native single-Block tarball with a multi-Block one of the same members", async () => {
    const { build, tarball } = await nativeBuild();
    expect(await xzBlocks(tarball)).toBe(1);
    const nativeMembers = await members(tarball);

    const rc = await bashrc(build, { vars: { PACKDEBUG_BLOCK_SIZE: '64KiB' } });
    const r = await preinst(build, {
      bashrc: rc,
      env: { FEATURES: 'packdebug splitdebug installsources binpkg-multi-instance' },
    });
    expectCompleted(r);
    expect(r.stderr).toContain("replaced Portage's native FEATURES=packdebug tarball");
    expect(await xzBlocks(tarball)).toBeGreaterThan(1);
    expect(await members(tarball)).toEqual(nativeMembers);
    expect(await readdir(join(build.ed, TARBALL_DIR))).toEqual([`${PF}-1-debug.tar.xz`]);
  });

  it("repacks Portage's tarball when INSTALL_MASK already removed the debug dirs (native packdebug)", async () => {
    const { build, tarball } = await nativeBuild();
    const nativeStream = (await execa('xz', ['-dc', tarball], { encoding: 'buffer' })).stdout;
    // What INSTALL_MASK="/usr/lib/debug/ /usr/src/debug/ -/usr/lib/debug/.tarball" leaves.
    await rm(join(build.ed, 'usr/src/debug'), { recursive: true });
    for (const name of await readdir(join(build.ed, 'usr/lib/debug'))) {
      if (name !== '.tarball') await rm(join(build.ed, 'usr/lib/debug', name), { recursive: true });
    }
    const rc = await bashrc(build, { vars: { PACKDEBUG_BLOCK_SIZE: '64KiB' } });
    const r = await preinst(build, {
      bashrc: rc,
      env: { FEATURES: 'packdebug splitdebug installsources binpkg-multi-instance' },
    });
    expectCompleted(r);
    expect(r.stderr).toContain("repacked Portage's tarball");
    expect(await xzBlocks(tarball)).toBeGreaterThan(1);
    const after = (await execa('xz', ['-dc', tarball], { encoding: 'buffer' })).stdout;
    expect(Buffer.compare(Buffer.from(after), Buffer.from(nativeStream))).toBe(0);
  });

  describe('failures', () => {
    async function fifoBuild() {
      const build = await newBuild();
      await execa('mkfifo', [join(build.ed, 'usr/lib/debug/usr/bin/weird.fifo')]);
      return build;
    }

    it('without PACKDEBUG_STRICT a failed pack warns and the phase goes on, debug files untouched', async () => {
      const build = await fifoBuild();
      const rc = await bashrc(build, { vars: { PACKDEBUG_REMOVE_PACKED: '1' } });
      const before = await snapshot(build.ed);
      const r = await preinst(build, { bashrc: rc });
      expectCompleted(r);
      expect(r.stderr).toContain('weird.fifo');
      expect(r.stderr).toMatch(/packdebug failed for app-misc\/hello-1\.0 \(exit status [1-9]\d*\)/);
      expect(r.stderr).toContain('PACKDEBUG_STRICT=1');
      expect(await snapshot(build.ed)).toEqual(before);
    });

    it('with PACKDEBUG_STRICT=1 a failed pack dies', async () => {
      const build = await fifoBuild();
      const rc = await bashrc(build, { vars: { PACKDEBUG_STRICT: '1', PACKDEBUG_REMOVE_PACKED: '1' } });
      const before = await snapshot(build.ed);
      const r = await preinst(build, { bashrc: rc });
      expect(r.exitCode).toBe(1);
      expect(r.stdout).not.toContain('phase completed');
      expect(r.stderr).toContain('ERROR: app-misc/hello-1.0 failed (preinst phase):');
      expect(r.stderr).toMatch(
        /packdebug failed for app-misc\/hello-1\.0 \(exit status [1-9]\d*, PACKDEBUG_STRICT is set\)/,
      );
      expect(await snapshot(build.ed)).toEqual(before);
    });

    it('an invalid PACKDEBUG_PRESET warns (status 2), or dies when strict', async () => {
      const build = await newBuild();
      const before = await snapshot(build.ed);
      let r = await preinst(build, { bashrc: await bashrc(build, { vars: { PACKDEBUG_PRESET: '11' } }) });
      expectCompleted(r);
      expect(r.stderr).toContain('PACKDEBUG_PRESET=11: not an xz preset');
      expect(r.stderr).toContain('(exit status 2)');
      r = await preinst(build, {
        bashrc: await bashrc(build, { vars: { PACKDEBUG_PRESET: '11', PACKDEBUG_STRICT: 'yes' } }),
      });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('ERROR: app-misc/hello-1.0 failed (preinst phase):');
      expect(await snapshot(build.ed)).toEqual(before);
    });

    it('a missing packdebug warns, or dies when strict', async () => {
      const build = await newBuild();
      const missing = join(build.builddir, 'no-such-packdebug');
      let r = await preinst(build, { bashrc: await bashrc(build, { vars: { PACKDEBUG_BIN: missing } }) });
      expectCompleted(r);
      expect(r.stderr).toContain(`packdebug: '${missing}' not found`);
      expect(r.stderr.match(/not found/g)).toHaveLength(1);
      r = await preinst(build, {
        bashrc: await bashrc(build, { vars: { PACKDEBUG_BIN: missing, PACKDEBUG_STRICT: 'true' } }),
      });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('ERROR: app-misc/hello-1.0 failed (preinst phase):');
      // And with the default name, when packdebug is not on PATH.
      r = await preinst(build, {
        bashrc: await bashrc(build, { vars: { PACKDEBUG_BIN: '' } }),
        env: { PATH: '/usr/bin:/bin' },
      });
      expectCompleted(r);
      expect(r.stderr).toContain("packdebug: 'packdebug' not found");
    });
  });

  describe('living with other hooks', () => {
    const userHook = (name: string) => `${name}() { echo "user ${name} ran in $EBUILD_PHASE"; }`;

    it('leaves a pre_ and post_pkg_preinst defined before it alone: both run, the user first', async () => {
      const build = await newBuild();
      // With both hooks taken, packdebug runs where the user calls it (it never wraps their functions).
      const post =
        'post_pkg_preinst() { echo "user post_pkg_preinst ran in $EBUILD_PHASE"; packdebug_pre_pkg_preinst; }';
      const rc = await bashrc(build, { before: `${userHook('pre_pkg_preinst')}\n${post}` });
      const r = await preinst(build, { bashrc: rc });
      expectCompleted(r);
      expect(r.stdout.match(/user pre_pkg_preinst ran in preinst/g)).toHaveLength(1);
      expect(r.stdout.match(/user post_pkg_preinst ran in preinst/g)).toHaveLength(1);
      expect((await stat(join(build.ed, tarballRel('1')))).isFile()).toBe(true);
      expect(r.stderr.match(/\* packdebug: usr\/lib\/debug\/\.tarball/g)).toHaveLength(1);
    });

    it('still packs (in post_pkg_preinst) when pre_pkg_preinst is defined after sourcing it', async () => {
      const build = await newBuild();
      const rc = await bashrc(build, { after: userHook('pre_pkg_preinst') });
      const r = await preinst(build, { bashrc: rc });
      expectCompleted(r);
      expect(r.stdout.match(/user pre_pkg_preinst ran/g)).toHaveLength(1);
      expect((await stat(join(build.ed, tarballRel('1')))).isFile()).toBe(true);
      expect(r.stderr.match(/\* packdebug: usr\/lib\/debug\/\.tarball/g)).toHaveLength(1);
    });

    it('runs once when a later pre_pkg_preinst calls packdebug_pre_pkg_preinst itself', async () => {
      const build = await newBuild();
      const rc = await bashrc(build, { after: 'pre_pkg_preinst() { echo "user hook"; packdebug_pre_pkg_preinst; }' });
      const r = await preinst(build, { bashrc: rc });
      expectCompleted(r);
      expect(r.stdout.match(/user hook/g)).toHaveLength(1);
      expect(r.stderr.match(/\* packdebug: usr\/lib\/debug\/\.tarball/g)).toHaveLength(1);
    });

    it('survives being sourced again over a saved environment that holds its hook', async () => {
      const build = await newBuild();
      const rc = await bashrc(build, { before: userHook('pre_pkg_preinst'), sourceTwice: true });
      // Build phase: bashrc sourced, functions saved into the environment.
      const saved = join(build.builddir, 'environment');
      expect((await preinst(build, { bashrc: rc, saveEnvTo: saved })).exitCode).toBe(0);
      // preinst: saved environment loaded, then the bashrcs sourced again.
      const r = await preinst(build, { bashrc: rc, savedEnv: saved });
      expectCompleted(r);
      expect(r.stdout.match(/user pre_pkg_preinst ran/g)).toHaveLength(1);
      expect(r.stderr.match(/\* packdebug: usr\/lib\/debug\/\.tarball/g)).toHaveLength(1);
    });

    it('does nothing on a binpkg client whose saved environment carries the hook', async () => {
      const build = await newBuild();
      const saved = join(build.builddir, 'environment');
      const rc = await bashrc(build, {
        before: userHook('pre_pkg_preinst'),
        vars: { PACKDEBUG_STRICT: '1', PACKDEBUG_BIN: '/nonexistent/packdebug' },
      });
      await preinst(build, { bashrc: rc, saveEnvTo: saved });
      expect(await readFile(saved, 'utf8')).toContain('packdebug_pre_pkg_preinst');
      // The client's own bashrc does not source packdebug.bashrc.
      const before = await snapshot(build.ed);
      const r = await preinst(build, { savedEnv: saved });
      expectCompleted(r);
      expect(r.stdout.match(/user pre_pkg_preinst ran/g)).toHaveLength(1);
      expect(r.stderr).toBe('');
      expect(await snapshot(build.ed)).toEqual(before);
    });

    it('runs only in preinst', async () => {
      const build = await newBuild();
      const before = await snapshot(build.ed);
      const r = await preinst(build, { bashrc: await bashrc(build), env: { EBUILD_PHASE: 'postinst' } });
      expectCompleted(r);
      expect(r.stderr).toBe('');
      expect(await snapshot(build.ed)).toEqual(before);
    });
  });

  it('packs a Gentoo Prefix image into ${ED} (= ${D}${EPREFIX})', async () => {
    const eprefix = '/home/user/gentoo';
    const build = await newBuild('hello', eprefix);
    const r = await preinst(build, { bashrc: await bashrc(build), eprefix });
    expectCompleted(r);
    expect((await stat(join(build.ed, tarballRel('1')))).isFile()).toBe(true);
    // Nothing was written into ${D} outside ${ED}.
    expect(await readdir(build.d)).toEqual(['home']);
    expect(existsSync(join(build.d, 'usr'))).toBe(false);
  });
});

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------------------
// Symlinks on the way to Portage's tarball (issue 12, item 5)
// ---------------------------------------------------------------------------

describe.skipIf(!requireTool('tar') || !requireTool('xz'))(
  'runHook with a symlink between ${ED} and the tarball',
  () => {
    /**
     * An image without debug files whose tarball path leads, through a symlink at `linkAt`
     * (.tarball, CATEGORY, PN or the file), to a one-Block tarball outside ${ED}.
     */
    async function linkedBuild(linkAt: 'tarball-dir' | 'category' | 'pn' | 'file') {
      const { portageTarball } = await import('./helpers/trees.js');
      const ed = join(await tmpdir('hook-link-ed'), 'image');
      await mkdir(join(ed, 'usr/lib/debug'), { recursive: true });
      const outside = await tmpdir('hook-link-outside');
      const rel = `${CATEGORY}/${PN}/${PF}-5-debug.tar.xz`;
      const target = await portageTarball(await makeImage('hello'), join(outside, rel));
      const tarballs = join(ed, 'usr/lib/debug/.tarball');
      if (linkAt === 'tarball-dir') await symlink(outside, tarballs);
      else if (linkAt === 'category') {
        await mkdir(tarballs);
        await symlink(join(outside, CATEGORY), join(tarballs, CATEGORY));
      } else if (linkAt === 'pn') {
        await mkdir(join(tarballs, CATEGORY), { recursive: true });
        await symlink(join(outside, CATEGORY, PN), join(tarballs, CATEGORY, PN));
      } else {
        await mkdir(join(tarballs, CATEGORY, PN), { recursive: true });
        await symlink(target, join(tarballs, rel));
      }
      return {
        ed,
        target,
        link:
          linkAt === 'tarball-dir'
            ? tarballs
            : join(tarballs, rel.split('/').slice(0, { category: 1, pn: 2, file: 3 }[linkAt]).join('/')),
      };
    }

    for (const linkAt of ['tarball-dir', 'category', 'pn', 'file'] as const) {
      it(`refuses a symlinked ${linkAt} (E_UNSAFE, status 1) and leaves the file outside \${ED} alone`, async () => {
        const { ed, target, link } = await linkedBuild(linkAt);
        const before = await stat(target);
        const bytes = await readFile(target);
        const io = memoryIO({ ...ENV, ED: ed, D: `${ed}/`, PACKDEBUG_BLOCK_SIZE: '16KiB' });
        expect(await runHook({ readFile: () => undefined }, io)).toBe(1);
        expect(io.err()).toBe(` * packdebug: ${link}: is a symlink; refusing to write through it\n`);
        const after = await stat(target);
        expect(after.ino).toBe(before.ino);
        expect(after.mtimeMs).toBe(before.mtimeMs);
        expect((await readFile(target)).equals(bytes)).toBe(true);
      });
    }
  },
);
