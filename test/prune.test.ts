import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { memoryIO } from './helpers/io.js';
import { runPrune } from '../src/commands/prune.js';
import { planGroup, type PruneCandidate } from '../src/prune/plan.js';
import { pruneTree, type PruneResult } from '../src/prune/prune.js';
import { parseTarballName } from '../src/portage/naming.js';
import { makeGpkg, makeXpak } from './helpers/binpkg.js';
import { makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';
import { packInto, snapshot } from './helpers/trees.js';

const hasTools = requireTool('tar') && requireTool('xz') && requireTool('zstd');
const CLI = path.resolve(__dirname, '../dist/cli.js');
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 22);

function candidate(category: string, pn: string, file: string, mtimeMs = 0): PruneCandidate {
  const name = parseTarballName(category, pn, file);
  if (typeof name === 'string') throw new Error(name);
  return {
    path: `/t/${category}/${pn}/${file}`,
    rel: `${category}/${pn}/${file}`,
    name,
    size: 1,
    mtimeMs,
    dev: 1,
    ino: 1,
  };
}

describe('prune plan', () => {
  it('keeps the newest N builds: highest version first, then highest BUILD_ID', () => {
    const files = [
      'hello-1.0-1',
      'hello-1.0-3',
      'hello-1.0-r1-1',
      'hello-0.9-7',
      'hello-1.1_rc1-2',
      'hello-1.0-10',
    ].map((f) => candidate('app-misc', 'hello', `${f}-debug.tar.xz`));
    const plan = planGroup(files, { keep: 3 });
    expect(plan.keep.map((k) => k.candidate.name.pf + '-' + k.candidate.name.buildNumber)).toEqual([
      'hello-1.1_rc1-2',
      'hello-1.0-r1-1',
      'hello-1.0-10',
    ]);
    expect(plan.remove.map((c) => `${c.name.pf}-${c.name.buildNumber}`)).toEqual([
      'hello-1.0-3',
      'hello-1.0-1',
      'hello-0.9-7',
    ]);
  });

  it('keeps protected and recent builds beyond N', () => {
    const files = [1, 2, 3, 4].map((n) =>
      candidate('app-misc', 'hello', `hello-1.0-${n}-debug.tar.xz`, NOW - (5 - n) * 10 * DAY),
    );
    const plan = planGroup(files, {
      keep: 1,
      olderThanMs: NOW - 35 * DAY,
      protects: (c) => (c.name.buildNumber === '3' ? 'binpkg' : undefined),
    });
    expect(plan.keep.map((k) => [k.candidate.name.buildNumber, k.reason])).toEqual([
      ['4', 'newest'],
      ['3', 'binpkg'],
      ['2', 'recent'],
    ]);
    expect(plan.remove.map((c) => c.name.buildNumber)).toEqual(['1']);
  });
});

describe.skipIf(!hasTools)('prune', () => {
  let template: string;
  let tarball: Buffer;

  beforeAll(async () => {
    const dir = await tmpdir('prune-src');
    const image = await makeImage('hello');
    tarball = await fs.readFile(
      await packInto(dir, image, { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' }),
    );
    template = path.join(dir, 'template');
    const put = async (rel: string, ageDays: number) => {
      const f = path.join(template, rel);
      await fs.mkdir(path.dirname(f), { recursive: true });
      await fs.writeFile(f, tarball);
      const t = new Date(NOW - ageDays * DAY);
      await fs.utimes(f, t, t);
    };
    for (let n = 1; n <= 5; n++) await put(`app-misc/hello/hello-1.0-${n}-debug.tar.xz`, 60 - n * 10);
    await put('app-misc/hello/hello-1.1-1-debug.tar.xz', 1);
    await put('app-misc/solo/solo-2-1-debug.tar.xz', 100);
    await put('app-misc/solo/solo-2-2-debug.tar.xz', 90);
    await put('dev-libs/gone/gone-1-1-debug.tar.xz', 100);
    await put('dev-libs/gone/gone-1-2-debug.tar.xz', 100);
    await put('dev-libs/stays/stays-1-1-debug.tar.xz', 100);
    await put('dev-libs/stays/stays-1-2-debug.tar.xz', 100);
    // Things prune must never delete.
    await put('app-misc/hello/hello-1.0-debug.tar.xz', 100);
    await put('app-misc/hello/hello-x-1-debug.tar.xz', 100);
    await fs.writeFile(path.join(template, 'dev-libs/stays/README'), 'keep me\n');
    await fs.writeFile(path.join(template, 'app-misc/hello/.hello-1.0-6-debug.tar.xz.1-a.tmp'), '');
    await fs.mkdir(path.join(template, 'app-misc/was-empty'));
    await fs.writeFile(path.join(dir, 'outside-1.0-1-debug.tar.xz'), tarball);
    await fs.symlink(
      path.join(dir, 'outside-1.0-1-debug.tar.xz'),
      path.join(template, 'app-misc/hello/hello-0.1-1-debug.tar.xz'),
    );
    await fs.mkdir(path.join(template, 'app-misc/linked'));
    await fs.symlink(path.join(dir), path.join(template, 'app-misc/linked/linked-1-1-debug.tar.xz'));
  });

  async function copyTree(): Promise<string> {
    const dest = path.join(await tmpdir('prune'), 'tree');
    await execa('cp', ['-a', '--', template, dest]);
    return dest;
  }

  const rels = (r: PruneResult, tree: string) => ({
    deleted: r.deleted.map((d) => path.relative(tree, d.path)),
    dirs: r.removedDirs.map((d) => path.relative(tree, d)),
    bytes: r.reclaimedBytes,
  });

  it('deletes the old builds, and --dry-run says exactly that without touching anything', async () => {
    const a = await copyTree();
    const b = await copyTree();
    const before = await snapshot(a);
    const dry = await pruneTree({ tree: a, keep: 1, dryRun: true, now: NOW });
    expect(await snapshot(a)).toEqual(before);
    const real = await pruneTree({ tree: b, keep: 1, now: NOW });
    expect(rels(dry, a)).toEqual(rels(real, b));
    expect(rels(real, b).deleted.sort()).toEqual([
      'app-misc/hello/hello-1.0-1-debug.tar.xz',
      'app-misc/hello/hello-1.0-2-debug.tar.xz',
      'app-misc/hello/hello-1.0-3-debug.tar.xz',
      'app-misc/hello/hello-1.0-4-debug.tar.xz',
      'app-misc/hello/hello-1.0-5-debug.tar.xz',
      'app-misc/solo/solo-2-1-debug.tar.xz',
      'dev-libs/gone/gone-1-1-debug.tar.xz',
      'dev-libs/stays/stays-1-1-debug.tar.xz',
    ]);
    expect(real.reclaimedBytes).toBe(8 * tarball.length);
    expect(real.kept.newest).toBe(4);
    // Nothing else was touched: misnamed files, temp files, symlinks (and what they point to), stray files,
    // old empty dirs.
    const left = (await snapshot(b)).map((l) => l.split(' ')[0]);
    for (const keep of [
      './app-misc/hello/hello-1.0-debug.tar.xz',
      './app-misc/hello/hello-x-1-debug.tar.xz',
      './app-misc/hello/.hello-1.0-6-debug.tar.xz.1-a.tmp',
      './app-misc/hello/hello-0.1-1-debug.tar.xz',
      './app-misc/linked/linked-1-1-debug.tar.xz',
      './app-misc/was-empty',
      './dev-libs/stays/README',
      './dev-libs/stays/stays-1-2-debug.tar.xz',
    ]) {
      expect(left).toContain(keep);
    }
    expect(
      (await fs.readFile(await fs.realpath(path.join(b, 'app-misc/hello/hello-0.1-1-debug.tar.xz')))).equals(tarball),
    ).toBe(true);
  });

  it('removes only the directories it emptied', async () => {
    const t = await copyTree();
    const r = await pruneTree({ tree: t, keep: 0, now: NOW });
    expect(rels(r, t).dirs).toEqual(['app-misc/solo', 'dev-libs/gone']);
    await expect(fs.stat(path.join(t, 'app-misc/was-empty'))).resolves.toBeTruthy();
    await expect(fs.stat(path.join(t, 'dev-libs/stays/README'))).resolves.toBeTruthy();
    // The category goes when its last PN directory went.
    const t2 = await copyTree();
    await fs.rm(path.join(t2, 'dev-libs/stays'), { recursive: true });
    const r2 = await pruneTree({ tree: t2, keep: 0, now: NOW });
    const d2 = rels(r2, t2).dirs;
    expect(d2).toContain('dev-libs');
    const dry = await pruneTree({
      tree: await (async () => {
        const t3 = await copyTree();
        await fs.rm(path.join(t3, 'dev-libs/stays'), { recursive: true });
        return t3;
      })(),
      keep: 0,
      dryRun: true,
      now: NOW,
    });
    expect(dry.removedDirs.map((d) => d.split('/tree/')[1])).toEqual(d2);
  });

  it('keeps builds with a binpkg, installed builds and recent ones', async () => {
    const t = await copyTree();
    const pkgdir = path.join(path.dirname(t), 'binpkgs');
    const image = await makeImage('hello');
    await makeGpkg(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-2.gpkg.tar'), {
      category: 'app-misc',
      pf: 'hello-1.0',
      buildNumber: '2',
    });
    const vdb = path.join(path.dirname(t), 'vdb');
    await fs.mkdir(path.join(vdb, 'app-misc/hello-1.0'), { recursive: true });
    await fs.writeFile(path.join(vdb, 'app-misc/hello-1.0/BUILD_ID'), '03\n');
    await fs.mkdir(path.join(vdb, 'dev-libs/gone-1'), { recursive: true }); // no BUILD_ID: every build of it counts
    const r = await pruneTree({ tree: t, keep: 1, pkgdir, vdb, olderThanDays: 15, now: NOW });
    expect(rels(r, t).deleted).toEqual([
      'app-misc/hello/hello-1.0-4-debug.tar.xz',
      'app-misc/hello/hello-1.0-1-debug.tar.xz',
      'app-misc/solo/solo-2-1-debug.tar.xz',
      'dev-libs/stays/stays-1-1-debug.tar.xz',
    ]);
    expect(r.kept).toEqual({ newest: 4, binpkg: 1, installed: 2, recent: 1 });
  });

  const xpakPkgdirProtects =
    'a PKGDIR with XPAK binpkgs and a Packages index protects the builds it holds (multi-instance names)';
  it(xpakPkgdirProtects, async () => {
    const t = await copyTree();
    const pkgdir = path.join(path.dirname(t), 'binpkgs');
    const image = await makeImage('hello');
    // CAT/PN/PF-BUILD_ID.xpak, as binpkg-multi-instance names them.
    await makeXpak(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-3.xpak'), {
      category: 'app-misc',
      pf: 'hello-1.0',
      buildNumber: '3',
    });
    // The name is not trusted: this one's metadata says build 1.
    await makeXpak(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-2.xpak'), {
      category: 'app-misc',
      pf: 'hello-1.0',
      buildNumber: '1',
    });
    // The Packages stanza (SIZE matching) identifies a binpkg without opening it; a stale stanza protects nothing.
    const gpkg = path.join(pkgdir, 'app-misc/hello/hello-1.0-4.gpkg.tar');
    await fs.writeFile(gpkg, 'not opened: the index says what it is\n');
    const size = (await fs.stat(gpkg)).size;
    await fs.writeFile(
      path.join(pkgdir, 'Packages'),
      'ARCH: amd64\nVERSION: 0\n\n' +
        `BUILD_ID: 4\nCPV: app-misc/hello-1.0\nPATH: app-misc/hello/hello-1.0-4.gpkg.tar\nSIZE: ${size}\n\n` +
        'BUILD_ID: 5\nCPV: app-misc/hello-1.0\nPATH: app-misc/hello/hello-1.0-5.gpkg.tar\nSIZE: 1234\n\n',
    );
    for (const dryRun of [true, false]) {
      const r = await pruneTree({ tree: t, keep: 1, pkgdir, dryRun, now: NOW });
      expect(rels(r, t).deleted.sort(), `dry run ${dryRun}`).toEqual([
        'app-misc/hello/hello-1.0-2-debug.tar.xz',
        'app-misc/hello/hello-1.0-5-debug.tar.xz',
        'app-misc/solo/solo-2-1-debug.tar.xz',
        'dev-libs/gone/gone-1-1-debug.tar.xz',
        'dev-libs/stays/stays-1-1-debug.tar.xz',
      ]);
      expect(r.kept, `dry run ${dryRun}`).toEqual({ newest: 4, binpkg: 3, installed: 0, recent: 0 });
    }
  });

  it('counts the bytes of hardlinked tarballs once, when their last link goes', async () => {
    const dir = await tmpdir('prune-links');
    const t = path.join(dir, 'tree');
    const p = (n: number) => path.join(t, `app-misc/hl/hl-1-${n}-debug.tar.xz`);
    await fs.mkdir(path.dirname(p(1)), { recursive: true });
    await fs.writeFile(p(1), tarball);
    await fs.link(p(1), p(2)); // two names, one inode: both deleted
    await fs.writeFile(p(3), tarball);
    await fs.link(p(3), path.join(dir, 'outside.tar.xz')); // also linked outside the tree: frees nothing
    await fs.writeFile(p(4), tarball); // the newest, kept
    const dry = await pruneTree({ tree: t, keep: 1, dryRun: true, now: NOW });
    const real = await pruneTree({ tree: t, keep: 1, now: NOW });
    for (const r of [dry, real]) {
      expect(r.deleted.map((d) => [path.basename(d.path), d.bytes, d.reclaimed])).toEqual([
        ['hl-1-3-debug.tar.xz', tarball.length, 0],
        ['hl-1-2-debug.tar.xz', tarball.length, 0],
        ['hl-1-1-debug.tar.xz', tarball.length, tarball.length],
      ]);
      expect(r.reclaimedBytes).toBe(tarball.length);
    }
    const io = memoryIO();
    await fs.writeFile(p(5), tarball);
    await fs.link(p(5), p(6));
    await runPrune({ tree: t, keep: 0, dryRun: true }, io);
    expect(io.out()).toMatch(
      /^would delete app-misc\/hl\/hl-1-6-debug\.tar\.xz \(\d+ bytes, another hardlink to it remains\)$/m,
    );
    expect(io.out()).toMatch(/^would delete app-misc\/hl\/hl-1-5-debug\.tar\.xz \(\d+ bytes\)$/m);
  });

  it('leaves a tarball that changed since it was planned, and one that is gone is no error', async () => {
    const t = await copyTree();
    const victim = path.join(t, 'app-misc/hello/hello-1.0-1-debug.tar.xz');
    const gone = path.join(t, 'app-misc/hello/hello-1.0-2-debug.tar.xz');
    const r = await pruneTree(
      { tree: t, keep: 1, now: NOW },
      {
        deleted: async (c) => {
          if (!c.path.endsWith('hello-1.0-5-debug.tar.xz')) return;
          // A repack replaces a planned file (new inode); another run deletes one.
          await fs.writeFile(`${victim}.new`, tarball);
          await fs.rename(`${victim}.new`, victim);
          await fs.rm(gone);
        },
      },
    );
    expect(r.skipped.map((s) => s.path)).toEqual([victim]);
    expect(r.failed).toEqual([]);
    await expect(fs.stat(victim)).resolves.toBeTruthy();
  });

  it('an audit running beside a prune neither crashes nor reports what the prune removed as unreadable', async () => {
    const t = await copyTree();
    const { auditTree } = await import('../src/audit/audit.js');
    const seen: string[] = [];
    const [audit, prune] = await Promise.all([
      auditTree(
        { tree: t, concurrency: 1 },
        { finding: (f) => void seen.push(f.code), tarball: (r) => void seen.push(...r.findings.map((f) => f.code)) },
      ),
      pruneTree({ tree: t, keep: 0, now: NOW }),
    ]);
    expect(prune.deleted.length).toBeGreaterThan(5);
    expect(audit.ioErrors).toBe(0);
    expect(seen).not.toContain('io-error');
  });

  it('stops before deleting anything when --pkgdir or --vdb cannot be read', async () => {
    const t = await copyTree();
    const before = await snapshot(t);
    await expect(pruneTree({ tree: t, keep: 0, pkgdir: path.join(t, 'nope') })).rejects.toMatchObject({
      code: 'E_INPUT',
    });
    await expect(pruneTree({ tree: t, keep: 0, vdb: path.join(t, 'nope') })).rejects.toMatchObject({ code: 'E_INPUT' });
    expect(await snapshot(t)).toEqual(before);
  });

  it('CLI: lines per deletion and a total; --json; usage errors exit 2', async () => {
    const t = await copyTree();
    const io = memoryIO();
    expect(await runPrune({ tree: t, keep: 2, dryRun: true }, io)).toBe(0);
    expect(io.out()).toMatch(/^would delete app-misc\/hello\/hello-1\.0-1-debug\.tar\.xz \(\d+ bytes\)$/m);
    expect(io.out()).toMatch(/^\d+ tarballs to delete, .* to reclaim; kept \d+ newest \(--keep 2\)/m);
    const j = await execa('node', [CLI, 'prune', t, '--keep', '2', '--json'], { reject: false });
    expect(j.exitCode).toBe(0);
    const doc = JSON.parse(j.stdout);
    expect(doc).toMatchObject({ schema: 'packdebug-prune/1', dryRun: false, keep: 2 });
    expect(doc.deleted.map((d: { rel: string }) => d.rel)).toEqual(
      JSON.parse(
        JSON.stringify(
          io
            .out()
            .match(/^would delete (\S+)/gm)!
            .map((l) => l.slice(13)),
        ),
      ),
    );
    const bad = await execa('node', [CLI, 'prune', t, '--keep', '-1'], { reject: false });
    expect(bad.exitCode).toBe(2);
    const missing = await execa('node', [CLI, 'prune', path.join(t, 'nope')], { reject: false });
    expect(missing.exitCode).toBe(2);
  });
});
