/**
 * `npm run release` (release.mjs): the release tarball holds what
 * I16-LAYOUT (README's "Release tarball") lists, is reproducible, and,
 * unpacked where no node_modules is above it, runs with nothing but Node.js,
 * xz and tar on PATH: no npm, no lzma-native.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIds, makeImage, tmpdir, walkTree } from './helpers/images.js';
import { PREINST_HARNESS } from './helpers/portage-phase.js';
import { requireTool, toolPath } from './helpers/tools.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO, 'dist/cli.js');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const TOP = `packdebug-${VERSION}`;
const TARBALL = `${TOP}.tar.xz`;

/** One man page per command: the commands are the src/commands/VERB.args.ts files. */
const VERBS = (await readdir(join(REPO, 'src/commands')))
  .filter((name) => name.endsWith('.args.ts'))
  .map((name) => name.slice(0, -'.args.ts'.length))
  .sort();
const DOCS = (await readdir(join(REPO, 'docs'))).filter((name) => name.endsWith('.md'));

/** The files of I16-LAYOUT.md, below packdebug-VERSION/ (lib/chunks/ apart: its names come from esbuild). */
const LAYOUT_FILES = [
  'bin/packdebug',
  'lib/cli.js',
  'lib/release.json',
  'hooks/packdebug.bashrc',
  'fixtures/hello-image.tar',
  'man/packdebug.1',
  ...VERBS.map((verb) => `man/packdebug-${verb}.1`),
  ...DOCS.map((name) => `docs/${name}`),
  // The licences of the npm packages bundled into lib/ (docs/*.md of the layout).
  'docs/third-party-licenses.md',
  'README.md',
  'LICENSE',
  'services/packdebug-serve.service',
  'services/packdebug-serve.initd',
  'services/packdebug-serve.confd',
  'services/debuginfod.service',
  'services/debuginfod.initd',
  'services/debuginfod.confd',
].sort();
const LAYOUT_DIRS = ['', 'bin', 'lib', 'lib/chunks', 'hooks', 'fixtures', 'man', 'docs', 'services'];

// Tools of the machine that builds the release and of the tests themselves
// (make-image.sh, the preinst harness, the man page check).
const hasTools = ['node', 'xz', 'tar', 'git', 'bash', 'grep', 'diff', 'gcc', 'objcopy', 'strip', 'readelf', 'groff']
  .map(requireTool)
  .every(Boolean);

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!hasTools)('the release tarball', () => {
  let outA: string;
  let outB: string;
  let printed: string;
  /** The unpacked packdebug-VERSION/. */
  let top: string;
  /** A PATH directory with node, xz and tar, and packdebug as a symlink to the launcher (as /usr/bin's). */
  let bin: string;
  /** Tools of the simulated preinst phase itself (bash, grep, diff). */
  let harnessBin: string;

  async function release(out: string): Promise<string> {
    const env = { ...process.env };
    delete env.SOURCE_DATE_EPOCH; // the mtime from the last commit
    const r = await execa(process.execPath, [join(REPO, 'release.mjs'), '--out', out], { env, cwd: REPO });
    return String(r.stdout);
  }

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it in pretest)`);
    outA = await tmpdir('release-a');
    outB = await tmpdir('release-b');
    printed = await release(outA);
    await release(outB);

    const unpacked = await tmpdir('release-unpacked');
    for (let dir = unpacked; dir !== dirname(dir); dir = dirname(dir)) {
      expect(existsSync(join(dir, 'node_modules')), `${dir}/node_modules`).toBe(false);
    }
    await execa('tar', ['-xJf', join(outA, TARBALL), '-C', unpacked]);
    top = join(unpacked, TOP);

    bin = await tmpdir('release-path');
    for (const tool of ['node', 'xz', 'tar']) await symlink(toolPath(tool)!, join(bin, tool));
    await symlink(join(top, 'bin/packdebug'), join(bin, 'packdebug'));
    harnessBin = await tmpdir('release-harness-path');
    for (const tool of ['bash', 'grep', 'diff']) await symlink(toolPath(tool)!, join(harnessBin, tool));
  });

  it('holds exactly the files of the layout, owned by 0/0 with the last commit time', async () => {
    const { stdout } = await execa('tar', ['--numeric-owner', '--full-time', '-tvJf', join(outA, TARBALL)]);
    const entries = String(stdout)
      .split('\n')
      .map((line) => {
        const [mode, owner, , day, time, name] = line.split(/\s+/);
        return { mode: mode!, owner: owner!, mtime: `${day} ${time}`, name: name! };
      });
    const names = entries.map((e) => e.name);
    expect(
      names.every((n) => n === `${TOP}/` || n.startsWith(`${TOP}/`)),
      'one top directory',
    ).toBe(true);
    const inTop = names.map((n) => n.slice(TOP.length + 1));
    const dirs = inTop.filter((n) => n === '' || n.endsWith('/')).map((n) => n.replace(/\/$/, ''));
    expect(dirs.sort()).toEqual([...LAYOUT_DIRS].sort());
    const files = inTop.filter((n) => n !== '' && !n.endsWith('/'));
    const chunks = files.filter((n) => n.startsWith('lib/chunks/'));
    expect(files.filter((n) => !n.startsWith('lib/chunks/')).sort()).toEqual(LAYOUT_FILES);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(chunk).toMatch(/^lib\/chunks\/[\w-]+\.mjs$/);
    expect(chunks).toContain('lib/chunks/cli.mjs');

    const { stdout: commitTime } = await execa('git', ['-C', REPO, 'log', '-1', '--format=%ct']);
    const expectedTime = new Date(Number(commitTime) * 1000).toISOString().replace('T', ' ').slice(0, 19);
    for (const e of entries) {
      expect(e.owner, e.name).toBe('0/0');
      expect(e.mtime, e.name).toBe(expectedTime);
      const executable = e.name.endsWith('/bin/packdebug') || e.name.endsWith('.initd');
      const mode = e.name.endsWith('/') ? 'drwxr-xr-x' : executable ? '-rwxr-xr-x' : '-rw-r--r--';
      expect(e.mode, e.name).toBe(mode);
    }
  });

  it('is reproducible: a second build gives the same bytes, and the DIST line describes them', async () => {
    const a = await readFile(join(outA, TARBALL));
    const b = await readFile(join(outB, TARBALL));
    expect(a.equals(b), 'two release builds differ').toBe(true);
    const hex = (algorithm: string) => createHash(algorithm).update(a).digest('hex');
    const lines = printed.trim().split('\n');
    expect(lines[0]).toContain(`${TARBALL}: ${a.length} bytes`);
    expect(lines.at(-1)).toBe(`DIST ${TARBALL} ${a.length} BLAKE2B ${hex('blake2b512')} SHA512 ${hex('sha512')}`);
  });

  it('ships no native addon, and lzma-native cannot be loaded from it', async () => {
    const lib = (await walkTree(join(top, 'lib'))).map((e) => e.path);
    expect(lib.filter((p) => p.endsWith('.node'))).toEqual([]);
    expect(lib.filter((p) => /node_modules/.test(p))).toEqual([]);
    const release = JSON.parse(await readFile(join(top, 'lib/release.json'), 'utf8'));
    expect(release).toEqual({ version: VERSION, kind: 'release' });
    // What the bundle's own require() (createRequire of a chunk) would find.
    const probe = await execa(
      'node',
      [
        '--input-type=module',
        '-e',
        "import { createRequire } from 'node:module'; createRequire(process.argv[1]).resolve('lzma-native');",
        join(top, 'lib/chunks/cli.mjs'),
      ],
      { env: { PATH: bin }, extendEnv: false, reject: false, cwd: top },
    );
    expect(probe.exitCode).not.toBe(0);
    expect(String(probe.stderr)).toContain("Cannot find module 'lzma-native'");
  });

  it('has man pages that groff reads without a warning, one per command', async () => {
    for (const page of ['packdebug', ...VERBS.map((verb) => `packdebug-${verb}`)]) {
      const file = join(top, 'man', `${page}.1`);
      const r = await execa('groff', ['-man', '-Tutf8', '-ww', '-z', file], { reject: false });
      expect(r.exitCode, page).toBe(0);
      expect(String(r.stderr), page).toBe('');
    }
    const main = await readFile(join(top, 'man/packdebug.1'), 'utf8');
    for (const verb of VERBS) expect(main).toContain(`\\fBpackdebug\\-${verb.replace(/-/g, '\\-')}\\fR(1)`);
    for (const section of ['SYNOPSIS', 'COMMANDS', 'ENVIRONMENT', 'FILES', 'EXIT STATUS', 'SEE ALSO']) {
      expect(main).toContain(`.SH ${section}\n`);
    }
    const pack = await readFile(join(top, 'man/packdebug-pack.1'), 'utf8');
    expect(pack).toContain('\\fB\\-D\\fR, \\fB\\-\\-image\\fR\n');
    expect(pack).toContain('.SH EXIT STATUS\n');
    // No text line that roff would take for a request, no unescaped hyphen or backslash.
    for (const page of [main, pack]) {
      for (const line of page.split('\n').filter((l) => !l.startsWith('.'))) {
        expect(line).not.toMatch(/^'/);
        expect(line.replace(/\\[-e&]|\\f[BIR]|\\\[u[0-9A-F]{4}\]/g, '')).not.toMatch(/[-\\]/);
      }
    }
  });

  it('has service files that run the installed programs', async () => {
    const services = join(top, 'services');
    for (const name of await readdir(services)) {
      const text = await readFile(join(services, name), 'utf8');
      expect(text, name).not.toContain(REPO.replace(/\/$/, ''));
      expect(text, name).not.toContain(outA);
      expect(text, name).not.toContain('save as');
    }
    expect(await readFile(join(services, 'packdebug-serve.service'), 'utf8')).toContain(
      'ExecStart=/usr/bin/packdebug serve /usr/lib/debug/.tarball',
    );
    expect(await readFile(join(services, 'debuginfod.service'), 'utf8')).toContain('ExecStart=/usr/bin/debuginfod');
    for (const service of ['packdebug-serve', 'debuginfod']) {
      const initd = await readFile(join(services, `${service}.initd`), 'utf8');
      expect(initd.startsWith('#!/sbin/openrc-run\n')).toBe(true);
      const settings = [...initd.matchAll(/^: "\$\{([A-Z_]+):=(.*)\}"$/gm)].map(([, k, v]) => `#${k}="${v}"`);
      expect(settings.length).toBeGreaterThan(2);
      const confd = (await readFile(join(services, `${service}.confd`), 'utf8')).split('\n');
      expect(confd.filter((l) => /^#[A-Z_]+=/.test(l))).toEqual(settings);
    }
    expect(await readFile(join(services, 'packdebug-serve.initd'), 'utf8')).toContain('command="/usr/bin/packdebug"');
  });

  describe.each([
    { lzmaNative: 'unset', extra: {} },
    { lzmaNative: '0', extra: { PACKDEBUG_LZMA_NATIVE: '0' } },
  ])('run with PATH=node,xz,tar only (PACKDEBUG_LZMA_NATIVE $lzmaNative)', ({ extra }) => {
    /** `packdebug ARGS` through the symlink on PATH, from the unpacked directory, with only PATH set. */
    async function packdebug(...args: string[]): Promise<Run> {
      const r = await execa('packdebug', args, {
        env: { PATH: bin, ...extra },
        extendEnv: false,
        reject: false,
        cwd: top,
      });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    }

    function expectOk(r: Run): void {
      expect(r.exitCode, `${r.stderr}${r.stdout}`).toBe(0);
    }

    it('--version names the release', async () => {
      const r = await packdebug('--version');
      expectOk(r);
      expect(r.stdout).toContain(VERSION);
    });

    it('demo packs the shipped fixture', async () => {
      const r = await packdebug('demo');
      expectOk(r);
      expect(r.stdout).toContain('(unpacked from fixtures/hello-image.tar)');
      expect(r.stdout).toMatch(/hello-1\.0-1-debug\.tar\.xz: 21 members, .* verified/);
      expect(r.stdout).toContain('./usr/lib/debug/usr/bin/hello.debug');
      expect(r.stdout).toContain('xz Blocks (uncompressed offset, size):');
    });

    it('packs an image, lists and extracts from the tarball, audits the tree', async () => {
      const image = await makeImage('hello');
      const tree = join(image, 'usr/lib/debug/.tarball');
      const tarball = join(tree, 'app-misc/hello/hello-1.0-1-debug.tar.xz');
      const id = ['--category', 'app-misc', '--pn', 'hello', '--pf', 'hello-1.0', '--build-id', '1'];
      const pack = await packdebug('pack', '--image', image, ...id);
      expectOk(pack);
      expect(pack.stdout).toContain('verified');
      expect((await stat(tarball)).isFile()).toBe(true);
      const members = String((await execa('tar', ['-tJf', tarball])).stdout).split('\n');
      expect(members).toContain('./usr/lib/debug/usr/bin/hello.debug');

      const debug = (await buildIds(image)).find((b) => b.path === 'usr/lib/debug/usr/bin/hello.debug')!;
      const list = await packdebug('list', tarball);
      expectOk(list);
      expect(list.stdout).toContain('./usr/lib/debug/usr/bin/hello.debug');
      expect(list.stdout).toContain(debug.buildId);

      const out = join(dirname(image), 'hello.debug');
      const extract = await packdebug('extract', tarball, '--build-id', debug.buildId, '--output', out);
      expectOk(extract);
      expect((await readFile(out)).equals(await readFile(join(image, debug.path)))).toBe(true);

      const audit = await packdebug('audit', tree);
      expectOk(audit);
      expect(audit.stdout).toMatch(/^tarballs +1 /m);
      expect(audit.stdout).toMatch(/^findings +0 errors/m);
    });

    it('hook: the released bashrc packs in a simulated preinst phase', async () => {
      const image = await makeImage('hello');
      const builddir = dirname(image);
      await mkdir(join(builddir, 'temp'));
      await mkdir(join(builddir, 'build-info'));
      const harness = join(builddir, 'harness.sh');
      await writeFile(harness, PREINST_HARNESS);
      // /etc/portage/bashrc: the hook finds `packdebug` on PATH (the symlink, as /usr/bin/packdebug).
      const bashrc = join(builddir, 'bashrc');
      await writeFile(bashrc, `source '${join(top, 'hooks/packdebug.bashrc')}'\n`);
      const r = await execa(toolPath('bash')!, [harness], {
        env: {
          PATH: `${bin}:${harnessBin}`,
          ...extra,
          NOCOLOR: 'true',
          D: `${image}/`,
          ED: image,
          EPREFIX: '',
          T: join(builddir, 'temp'),
          CATEGORY: 'app-misc',
          PN: 'hello',
          PF: 'hello-1.0',
          BUILD_ID: '1',
          FEATURES: 'splitdebug installsources binpkg-multi-instance buildpkg',
          PORTAGE_BUILDDIR: builddir,
          EBUILD_PHASE: 'preinst',
          HARNESS_BASHRC: bashrc,
          HARNESS_ENV: '',
          HARNESS_SAVE_ENV: '',
        },
        extendEnv: false,
        reject: false,
        cwd: builddir,
      });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stdout)).toContain('phase completed');
      expect(String(r.stdout)).not.toContain('QA:');
      const tarball = 'usr/lib/debug/.tarball/app-misc/hello/hello-1.0-1-debug.tar.xz';
      expect(String(r.stderr)).toContain(` * packdebug: ${tarball}: `);
      expect(String(r.stderr)).not.toMatch(/failed|not found/);
      expect((await stat(join(image, tarball))).isFile()).toBe(true);
    });
  });
});
