/**
 * `packdebug core` on real cores: gcore of the running crash fixture and a
 * core the kernel wrote, against eu-unstrip -n --core; coverage from a tree,
 * a mirror (nginx) and Debian's debuginfod; --fetch, then gdb offline.
 */
import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCore } from '../src/commands/core.js';
import type { SubjectReport } from '../src/crash/check.js';
import { euUnstripModules, gcoreOf, kernelCoreOf, makeCrashImage } from './helpers/cores.js';
import { Debuginfod } from './helpers/debuginfod.js';
import { buildIds, tmpdir } from './helpers/images.js';
import { memoryIO } from './helpers/io.js';
import { startNginx, type NginxServer } from './helpers/nginx.js';
import { requireTool } from './helpers/tools.js';
import { packInto } from './helpers/trees.js';

const CLI = path.resolve('dist/cli.js');
const CRASH = { category: 'app-misc', pn: 'crash', pf: 'crash-1.0', buildNumber: '3' };
const have = requireTool('gdb') && requireTool('eu-unstrip') && requireTool('zstd') && requireTool('lz4');

let image: string;
let tree: string;
let core: string;
let ids: { path: string; buildId: string }[];

/** runCore in-process with --json: the exit status and the reports. */
async function core_(args: string[]): Promise<{ code: number; reports: SubjectReport[]; err: string }> {
  const io = memoryIO({});
  const code = await runCore({ ...parse(args), json: true }, io);
  return {
    code,
    reports: io
      .out()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as SubjectReport),
    err: io.err(),
  };
}

/** A tiny parser for the tests' argument lists: files, --source X, --server X, --fetch X. */
function parse(args: string[]): { files: string[]; source: string[]; server: string[]; fetch?: string } {
  const out: { files: string[]; source: string[]; server: string[]; fetch?: string } = {
    files: [],
    source: [],
    server: [],
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--source') out.source.push(args[++i]!);
    else if (a === '--server') out.server.push(args[++i]!);
    else if (a === '--fetch') out.fetch = args[++i]!;
    else out.files.push(a);
  }
  return out;
}

beforeAll(async () => {
  if (!have) return;
  image = await makeCrashImage();
  ids = await buildIds(image);
  tree = await tmpdir('core-tree');
  const copy = await tmpdir('core-image-copy');
  await fs.cp(image, copy, { recursive: true });
  await packInto(tree, copy, CRASH);
  await execa('node', [CLI, 'index', tree]);
  core = (await gcoreOf(image)).core;
}, 120_000);

describe.skipIf(!have)('packdebug core', () => {
  it('lists the build-ids eu-unstrip -n --core lists, module by module (gcore)', async () => {
    const { code, reports } = await core_([core]);
    expect(code).toBe(0);
    const r = reports[0]!;
    expect(r.type).toBe('core');
    const ours = new Map(r.modules.map((m) => [BigInt(m.start!), m.buildId]));
    const theirs = await euUnstripModules(core);
    expect(theirs.length).toBeGreaterThanOrEqual(4);
    for (const m of theirs) expect([m.start, ours.get(m.start)]).toEqual([m.start, m.buildId]);
    expect(r.modules).toHaveLength(theirs.length);
    expect(r.modules.filter((m) => m.kind === 'vdso')).toHaveLength(1);
    expect(r.modules.find((m) => m.kind === 'main')?.path).toBe(path.join(image, 'usr/bin/crash'));
  });

  it('reads a build-id from the file on disk only when the core lacks its ELF header page, and says so', async () => {
    const bare = (await gcoreOf(image, { coredumpFilter: '0x3' })).core;
    const theirs = await euUnstripModules(bare);
    // eu-unstrip finds only the vDSO in such a core; the files are still here to read.
    expect(theirs.filter((m) => m.buildId !== undefined).map((m) => m.name)).toEqual(['linux-vdso.so.1']);
    const { reports } = await core_([bare]);
    const mods = reports[0]!.modules;
    const crash = mods.find((m) => m.kind === 'main')!;
    expect(crash).toMatchObject({ buildIdFrom: 'file', path: path.join(image, 'usr/bin/crash') });
    expect(crash.buildId).toBe(ids.find((i) => i.path.endsWith('usr/bin/crash.debug'))!.buildId);
    expect(mods.find((m) => m.kind === 'vdso')?.buildIdFrom).toBe('core');
    const text = await execa('node', [CLI, 'core', bare]);
    expect(text.stdout).toMatch(/ \(from the file\) .*usr\/bin\/crash$/m);
  });

  it('reads .note.package (the FDO packaging note ld --package-metadata writes) from a real core', async () => {
    const dir = await tmpdir('core-package-note');
    const prog = path.join(dir, 'pk');
    const meta = '{"type":"ebuild","name":"app-misc/pk","version":"1.0-r1","os":"gentoo"}';
    await execa('gcc', ['-x', 'c', '-o', prog, '-', '-Xlinker', `--package-metadata=${meta}`], {
      input: '#include <unistd.h>\nint main(void) { pause(); return 0; }\n',
    });
    const child = execa(prog, [], { reject: false });
    try {
      await new Promise((r) => setTimeout(r, 300));
      await execa('gcore', ['-o', path.join(dir, 'core'), String(child.pid)], { env: { DEBUGINFOD_URLS: '' } });
    } finally {
      child.kill('SIGKILL');
      await child;
    }
    const { reports } = await core_([path.join(dir, `core.${child.pid}`)]);
    const main = reports[0]!.modules.find((m) => m.kind === 'main')!;
    expect(main.package).toEqual({ type: 'ebuild', name: 'app-misc/pk', version: '1.0-r1', os: 'gentoo' });
  });

  it('does the same for a core the kernel wrote', async (ctx) => {
    const k = await kernelCoreOf(image);
    if ('skipped' in k) {
      console.warn(`kernel core: skipped: ${k.skipped}`);
      ctx.skip();
      return;
    }
    const { reports } = await core_([k.core]);
    const r = reports[0]!;
    expect(r.process?.signal).toBe(11);
    const theirs = await euUnstripModules(k.core);
    const ours = new Map(r.modules.map((m) => [BigInt(m.start!), m.buildId]));
    for (const m of theirs) expect([m.start, ours.get(m.start)]).toEqual([m.start, m.buildId]);
  });

  it('reads cores compressed with zstd, xz and lz4 as they are, with the same answer', async () => {
    const plain = (await core_([core])).reports[0]!.modules.map((m) => m.buildId);
    const dir = await tmpdir('core-compressed');
    for (const [tool, ext] of [
      [['zstd', '-q', '-c'], 'zst'],
      [['xz', '-c'], 'xz'],
      [['lz4', '-q', '-c'], 'lz4'],
    ] as const) {
      const out = path.join(dir, `core.${ext}`);
      await execa(tool[0], [...tool.slice(1), core], { stdout: { file: out } });
      const { reports } = await core_([out]);
      expect(reports[0]!.compression).toBe(ext === 'zst' ? 'zstd' : ext);
      expect(reports[0]!.modules.map((m) => m.buildId)).toEqual(plain);
    }
  });

  it('says which modules a tree, a mirror and a debuginfod server cover, and exits 1 for the rest', async () => {
    const crashId = ids.find((i) => i.path.endsWith('usr/bin/crash.debug'))!.buildId;
    const faultId = ids.find((i) => i.path.endsWith('libfault.so.1.debug'))!.buildId;
    const { code, reports } = await core_([core, '--source', tree]);
    expect(code).toBe(1); // libc and ld.so are not in the tree
    const byId = new Map(reports[0]!.modules.map((m) => [m.buildId, m]));
    for (const id of [crashId, faultId]) {
      const m = byId.get(id)!;
      expect(m.status).toBe('covered');
      expect(m.coverage?.debuginfo).toMatchObject({ package: 'app-misc/crash-1.0', buildNumber: '3' });
      expect(m.coverage?.sources?.count).toBe(3);
    }
    const libc = reports[0]!.modules.find((m) => m.path?.includes('libc.so'))!;
    expect(libc.status).toBe('missing');
    expect(reports[0]!.summary).toMatchObject({ withDebuginfo: 2, without: reports[0]!.modules.length - 2 });

    // The rest "served" by a file:// debuginfod directory: then everything is covered, exit 0.
    const server = await tmpdir('core-file-server');
    for (const m of reports[0]!.modules.filter((x) => x.status === 'missing')) {
      await fs.mkdir(path.join(server, 'buildid', m.buildId!), { recursive: true });
      await fs.writeFile(path.join(server, 'buildid', m.buildId!, 'debuginfo'), 'x');
    }
    const all = await core_([core, '--source', tree, '--server', `file://${server}`]);
    expect(all.code).toBe(0);

    // A mirror over HTTP, and Debian's debuginfod serving the tree: the same answer for the fixture's modules.
    let nginx: NginxServer | undefined;
    let d: Debuginfod | undefined;
    try {
      nginx = await startNginx(tree);
      const viaMirror = await core_([core, '--source', nginx.url]);
      expect(new Map(viaMirror.reports[0]!.modules.map((m) => [m.buildId, m.status])).get(crashId)).toBe('covered');
      d = await Debuginfod.start(tree, path.join(await tmpdir('core-debuginfod'), 'db.sqlite'));
      const viaServer = await core_([core, '--server', d.url]);
      const st = new Map(viaServer.reports[0]!.modules.map((m) => [m.buildId, m]));
      expect(st.get(crashId)?.status).toBe('covered');
      expect(st.get(faultId)?.coverage?.debuginfo?.source).toBe(d.url);
      expect(st.get(libc.buildId)?.status).toBe('missing');
      // --fetch from a server: the debug files (verified), no sources (a server cannot list them).
      const dir = path.join(await tmpdir('core-fetch-server'), 'out');
      const fetched = (await core_([core, '--server', d.url, '--fetch', dir])).reports[0]!.fetched!;
      expect([fetched.files, fetched.failures]).toEqual([2, []]);
      expect(
        await fs.stat(path.join(dir, 'usr/lib/debug/.build-id', faultId.slice(0, 2), `${faultId.slice(2)}.debug`)),
      ).toBeTruthy();
    } finally {
      await nginx?.stop();
      await d?.stop();
    }
  }, 120_000);

  it('--fetch writes what gdb needs: a backtrace with function names and source lines, offline', async () => {
    const dir = path.join(await tmpdir('core-fetch'), 'out');
    const { reports } = await core_([core, '--source', tree, '--fetch', dir]);
    const f = reports[0]!.fetched!;
    expect(f.files).toBe(5); // two debug files, three sources
    const crashId = ids.find((i) => i.path.endsWith('usr/bin/crash.debug'))!.buildId;
    const st = await fs.stat(
      path.join(dir, 'usr/lib/debug/.build-id', crashId.slice(0, 2), `${crashId.slice(2)}.debug`),
    );
    expect(st.isFile()).toBe(true);
    const bt = await gdb(f.gdb);
    expect(bt).toMatch(/fault_wait \(.*\) at .*fault\.c:\d+/);
    expect(bt).toMatch(/run_mode \(.*\) at .*crash\.c:\d+/);
    expect(bt).toMatch(/pause\(\);/); // the source line itself, from DIR/usr/src/debug

    // A symlink inside DIR is never written through: nothing lands where it points.
    const trap = await tmpdir('core-fetch-trap');
    const lured = path.join(await tmpdir('core-fetch-lured'), 'out');
    await fs.mkdir(lured);
    await fs.symlink(trap, path.join(lured, 'usr'));
    await expect(core_([core, '--source', tree, '--fetch', lured])).rejects.toThrow(/symlink/);
    expect(await fs.readdir(trap)).toEqual([]);

    // A second run writes nothing new.
    const again = (await core_([core, '--source', tree, '--fetch', dir])).reports[0]!.fetched!;
    expect([again.files, again.reused]).toEqual([0, 5]);

    // With an empty tree nothing is fetched, and gdb has no names: they came from packdebug.
    const empty = await tmpdir('core-empty-tree');
    await execa('node', [CLI, 'index', empty]);
    const none = path.join(await tmpdir('core-fetch-none'), 'out');
    const r = (await core_([core, '--source', empty, '--fetch', none])).reports[0]!;
    expect(r.fetched!.files).toBe(0);
    const bare = await gdb(r.fetched!.gdb);
    expect(bare).not.toMatch(/fault_wait \(.*\) at .*fault\.c:\d+/);
  }, 120_000);

  it('--fetch builds a sysroot when the crashed files are not on this system (executables from a server)', async () => {
    // The crash happened in a copy of the image that is gone by the time the core is looked at.
    const gone = await tmpdir('core-gone');
    await fs.cp(image, gone, { recursive: true });
    const far = (await gcoreOf(gone)).core;
    await fs.rm(gone, { recursive: true });
    // The executables come from a file:// debuginfod directory; the debug info and sources from the tree.
    const server = await tmpdir('core-exe-server');
    for (const rel of ['usr/bin/crash', 'usr/lib64/libfault.so.1']) {
      const id = ids.find((i) => i.path.endsWith(`${rel}.debug`))!.buildId;
      await fs.mkdir(path.join(server, 'buildid', id), { recursive: true });
      await fs.copyFile(path.join(image, rel), path.join(server, 'buildid', id, 'executable'));
    }
    const dir = path.join(await tmpdir('core-sysroot'), 'out');
    const r = (await core_([far, '--source', tree, '--server', `file://${server}`, '--fetch', dir])).reports[0]!;
    const f = r.fetched!;
    expect(f.failures).toEqual([]);
    expect(f.sysroot).toBe(path.join(dir, 'sysroot'));
    expect(f.gdb).toContain(`set sysroot ${path.join(dir, 'sysroot')}`);
    expect((await fs.lstat(path.join(dir, 'sysroot', gone, 'usr/bin/crash'))).isFile()).toBe(true);
    const bt = await gdb(f.gdb);
    expect(bt).toMatch(/fault_wait \(.*\) at .*fault\.c:\d+/);
    expect(bt).toMatch(/run_mode \(.*\) at .*crash\.c:\d+/);
  });

  it('checks an executable and the libraries it needs on this system', async () => {
    const { reports } = await core_([path.join(image, 'usr/bin/crash'), '--source', tree]);
    const r = reports[0]!;
    expect(r.type).toBe('executable');
    expect(r.modules[0]).toMatchObject({ kind: 'main', status: 'covered' });
    const fault = r.modules.find((m) => m.needed?.name === 'libfault.so.1');
    expect(fault).toMatchObject({ status: 'covered' });
    expect(path.resolve(fault!.path!)).toBe(path.join(image, 'usr/lib64/libfault.so.1'));
    expect(r.modules.some((m) => m.needed?.name === 'libc.so.6' && m.path !== undefined)).toBe(true);
  });

  it('refuses what is not a core, an executable or a library, in one line, exit 2', async () => {
    const dir = await tmpdir('core-bad');
    const text = path.join(dir, 'notes.txt');
    await fs.writeFile(text, 'not ELF at all');
    const r = await execa('node', [CLI, 'core', text], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('notes.txt: not an ELF file');
    const obj = path.join(dir, 'x.o');
    await execa('gcc', ['-c', '-x', 'c', '-o', obj, '-'], { input: 'int x;' });
    const rel = await execa('node', [CLI, 'core', obj], { reject: false });
    expect(rel.exitCode).toBe(2);
    expect(rel.stderr).toContain('an ELF rel file');
    // A truncated core: what it still holds, no crash.
    const cut = path.join(dir, 'cut.core');
    await fs.writeFile(cut, (await fs.readFile(core)).subarray(0, 20_000));
    const t = await execa('node', [CLI, 'core', cut], { reject: false });
    expect(t.exitCode).toBe(0);
    expect(t.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('prints a readable report', async () => {
    const r = await execa('node', [CLI, 'core', core, '--source', tree], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^.*: core of '.*', pid \d+, signal 19 \(SIGSTOP\); \d+ modules$/m);
    expect(r.stdout).toMatch(/crash {2}debuginfo, 3 sources: app-misc\/crash-1\.0 build 3$/m);
    expect(r.stdout).toMatch(/^summary: \d+ modules, 2 with debug info, \d+ without$/m);
  });
});

async function gdb(argv: string[]): Promise<string> {
  const [cmd, ...args] = argv;
  // getopt permutes: the batch options may follow the file arguments of the printed line.
  const r = await execa(cmd!, ['-batch', '-nx', ...args, '-ex', 'bt', '-ex', 'frame 1', '-ex', 'list'], {
    reject: false,
    timeout: 60_000,
    env: { DEBUGINFOD_URLS: '' },
  });
  return `${r.stdout}\n${r.stderr}`;
}
