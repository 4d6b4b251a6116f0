/**
 * The build-id index of a tree (packdebug index) and remote reads through it
 * (extract and list on http:// and file:// URLs), against a real nginx and a
 * fault-injecting server: lookups byte-identical to the image, foreign
 * tarballs, incremental runs, fragments, stale and hostile indexes.
 */
import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExtract } from '../src/commands/extract.js';
import { runIndex } from '../src/commands/index.js';
import { runAudit } from '../src/commands/audit.js';
import { runFromBinpkg } from '../src/commands/from-binpkg.js';
import { runList } from '../src/commands/list.js';
import { PackdebugError } from '../src/errors.js';
import { findTarballs } from '../src/tarball/tree.js';
import { startFaultServer } from './helpers/http-faults.js';
import { makeGpkg } from './helpers/binpkg.js';
import { Debuginfod, metric } from './helpers/debuginfod.js';
import { buildIds, makeImage, tmpdir } from './helpers/images.js';
import { memoryIO } from './helpers/io.js';
import { startNginx } from './helpers/nginx.js';
import { requireTool } from './helpers/tools.js';
import { packInto, portageTarball, tarballPath, xzThreadedTarball } from './helpers/trees.js';

const hasTools = requireTool('tar') && requireTool('xz') && requireTool('nginx') && requireTool('debuginfod');
const CLI = path.resolve('dist/cli.js');
const HELLO = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' };
const PORTAGE = { category: 'dev-libs', pn: 'single', pf: 'single-2', buildNumber: '0' };
const THREADED = { category: 'dev-libs', pn: 'threaded', pf: 'threaded-3', buildNumber: '0' };
const ENV = { PACKDEBUG_CACHE_DIR: '' };

async function index(tree: string, extra: Partial<Parameters<typeof runIndex>[0]> = {}) {
  const io = memoryIO(ENV);
  await runIndex({ tree, json: true, ...extra }, io);
  return JSON.parse(io.out()) as {
    tarballs: number;
    buildIds: number;
    read: number;
    unchanged: number;
    removed: number;
    merged: number;
    shardsWritten: number;
    damaged: { path: string; error: string }[];
    generation: string;
  };
}

/** extract through the CLI code path; returns the bytes written, or the error. */
async function extract(
  source: string | string[],
  how: { buildId?: string; path?: string; kind?: 'debuginfo' | 'executable'; retries?: string },
): Promise<{ data?: Buffer; error?: PackdebugError; err: string }> {
  const out = path.join(await tmpdir('index-out'), 'member');
  const io = memoryIO(ENV);
  try {
    await runExtract({ source, ...how, output: out, timeout: '10', verbose: true }, io);
    return { data: await fs.readFile(out), err: io.err() };
  } catch (error) {
    expect(
      await fs.access(out).then(
        () => true,
        () => false,
      ),
    ).toBe(false); // nothing written
    if (!(error instanceof PackdebugError)) throw error;
    return { error, err: io.err() };
  }
}

describe.skipIf(!hasTools)('packdebug index and remote reads', () => {
  let tree: string;
  let image: string;
  let oddImage: string;
  let ids: { path: string; buildId: string }[];
  let oddIds: { path: string; buildId: string }[];
  let nginx: Awaited<ReturnType<typeof startNginx>>;

  beforeAll(async () => {
    tree = await tmpdir('index-tree');
    image = await makeImage('hello');
    oddImage = await makeImage('odd');
    ids = await buildIds(image);
    oddIds = await buildIds(oddImage);
    await packInto(tree, image, HELLO, 16 << 10);
    await portageTarball(oddImage, tarballPath(tree, PORTAGE));
    await xzThreadedTarball(image, tarballPath(tree, THREADED));
    // A damaged one: cut in the middle.
    const damaged = tarballPath(tree, { category: 'dev-libs', pn: 'broken', pf: 'broken-1', buildNumber: '1' });
    await fs.mkdir(path.dirname(damaged), { recursive: true });
    const whole = await fs.readFile(tarballPath(tree, PORTAGE));
    await fs.writeFile(damaged, whole.subarray(0, whole.length >> 1));
    nginx = await startNginx(tree);
  }, 120_000);

  afterAll(async () => {
    await nginx?.stop();
  });

  it('indexes every tarball, skips and lists the damaged one, and stays out of the tarball walk', async () => {
    const r = await index(tree);
    expect(r.tarballs).toBe(3);
    expect(r.read).toBe(3);
    expect(r.damaged.map((d) => d.path)).toEqual(['dev-libs/broken/broken-1-1-debug.tar.xz']);
    expect(r.buildIds).toBeGreaterThanOrEqual(new Set([...ids, ...oddIds].map((x) => x.buildId)).size);
    expect(r.shardsWritten).toBe(256);
    // Nothing the index wrote looks like a tarball to the tree walk (nor to debuginfod's -Z .tar.xz).
    expect((await findTarballs(tree)).length).toBe(4);
    const { stdout } = await execa('find', [path.join(tree, '.packdebug-index'), '-name', '*.tar.xz']);
    expect(stdout).toBe('');
    // An unchanged tree: nothing read, nothing published.
    const again = await index(tree);
    expect({ read: again.read, unchanged: again.unchanged, shards: again.shardsWritten }).toEqual({
      read: 0,
      unchanged: 4,
      shards: 0,
    });
    expect(again.generation).toBe(r.generation);
  });

  it('serves every build-id byte-identical to the image, over nginx and file://', async () => {
    await index(tree);
    const log0 = (await nginx.accessLog()).length;
    for (const { path: rel, buildId } of ids) {
      const want = await fs.readFile(path.join(image, rel));
      const viaHttp = await extract(nginx.url, { buildId });
      expect(viaHttp.error?.message).toBeUndefined();
      expect(viaHttp.data!.equals(want)).toBe(true);
      expect(viaHttp.err).toMatch(/through its build-id index: 2 requests/);
      // The highest BUILD_ID holds it: packdebug's own layout.
      expect(viaHttp.err).toContain('from app-misc/hello/hello-1.0-1-debug.tar.xz');
      const viaFile = await extract(pathToFileURL(tree).href + '/', { buildId });
      expect(viaFile.data!.equals(want)).toBe(true);
    }
    // Range requests only for tarball data; the index objects are small whole GETs.
    const log = (await nginx.accessLog()).slice(log0);
    expect(log.filter((l) => l.path.endsWith('.tar.xz')).every((l) => l.status === 206 && l.range)).toBe(true);
  });

  it('reads foreign tarballs (one Block, xz -T Blocks) through the index', async () => {
    for (const [layout, img, list, make] of [
      ['single', oddImage, oddIds, portageTarball],
      ['threaded', image, ids, xzThreadedTarball],
    ] as const) {
      const t = await tmpdir(`index-${layout}`);
      await make(img, tarballPath(t, THREADED));
      await index(t);
      for (const { path: rel, buildId } of list.slice(0, 4)) {
        const got = await extract(pathToFileURL(t).href, { buildId });
        expect(got.error?.message, layout).toBeUndefined();
        expect(got.data!.equals(await fs.readFile(path.join(img, rel))), layout).toBe(true);
      }
    }
  });

  it('finds a source file of the build that holds a build-id', async () => {
    await index(tree);
    const src = (await execa('find', ['usr/src/debug', '-type', 'f', '-name', '*.c'], { cwd: image })).stdout
      .split('\n')
      .sort()[0]!;
    const want = await fs.readFile(path.join(image, src));
    const got = await extract(nginx.url, { buildId: ids[0]!.buildId, path: `/${src}` });
    expect(got.error?.message).toBeUndefined();
    expect(got.data!.equals(want)).toBe(true);
    // The same from the tarball URL alone (its own xz Index, read with Range requests), and locally.
    const one = await extract(`${nginx.url}app-misc/hello/hello-1.0-1-debug.tar.xz`, { path: src });
    expect(one.data!.equals(want)).toBe(true);
    const local = await extract(tree, { buildId: ids[0]!.buildId, path: src });
    expect(local.data!.equals(want)).toBe(true);
  });

  it('lists a tarball behind a URL as it lists a local one', async () => {
    const io = memoryIO(ENV);
    await runList({ tarball: `${nginx.url}dev-libs/threaded/threaded-3-0-debug.tar.xz`, json: true }, io);
    const local = memoryIO(ENV);
    await runList({ tarball: tarballPath(tree, THREADED), json: true }, local);
    const strip = (s: string) => ({ ...JSON.parse(s), tarball: '' });
    expect(strip(io.out())).toEqual(strip(local.out()));
  });

  it('says not found (exit 1) for an unknown build-id, and refuses a tree URL without --build-id', async () => {
    await index(tree);
    const missing = await extract(nginx.url, { buildId: 'ab'.repeat(20) });
    expect(missing.error?.code).toBe('E_NOT_FOUND');
    const r = await execa('node', [CLI, 'extract', nginx.url, '--build-id', 'cd'.repeat(20)], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/not found in http:/);
    const usage = await execa('node', [CLI, 'extract', nginx.url, '--path', 'usr/src/debug/x.c'], { reject: false });
    expect(usage.exitCode).toBe(2);
  });

  it('is incremental: a new tarball is read alone, a removed one dropped', async () => {
    await index(tree);
    const extraId = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '9' };
    await packInto(tree, image, extraId, 64 << 10);
    const added = await index(tree);
    // The damaged tarball is unchanged too: not read again until it changes.
    expect({ read: added.read, unchanged: added.unchanged, tarballs: added.tarballs }).toEqual({
      read: 1,
      unchanged: 4,
      tarballs: 4,
    });
    expect(added.shardsWritten).toBeLessThan(256);
    // The newest BUILD_ID wins now.
    const got = await extract(nginx.url, { buildId: ids[0]!.buildId });
    expect(got.err).toContain('hello-1.0-9-debug.tar.xz');
    await fs.rm(tarballPath(tree, extraId));
    const removed = await index(tree);
    expect({ removed: removed.removed, tarballs: removed.tarballs }).toEqual({ removed: 1, tarballs: 3 });
    expect((await extract(nginx.url, { buildId: ids[0]!.buildId })).err).not.toContain('hello-1.0-9-debug.tar.xz');
  });

  it('detects an index made stale by a replaced tarball, and never writes wrong bytes', async () => {
    const staleTree = await tmpdir('index-stale');
    await packInto(staleTree, image, HELLO, 16 << 10);
    await index(staleTree);
    // Replaced by another build of the odd image under the same name (a rebuild), index not updated.
    const other = await tmpdir('index-stale-other');
    await fs.rename(await packInto(other, oddImage, HELLO, 32 << 10), tarballPath(staleTree, HELLO));
    const server = await startNginx(staleTree);
    try {
      const got = await extract(server.url, { buildId: ids[0]!.buildId });
      expect(got.error?.code).toBe('E_CHANGED');
      expect(got.error?.message).toMatch(/index is stale/);
      await index(staleTree);
      const fresh = await extract(server.url, { buildId: oddIds[0]!.buildId });
      expect(fresh.data!.equals(await fs.readFile(path.join(oddImage, oddIds[0]!.path)))).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('works with a server that ignores Range, and says it is slow', async () => {
    await index(tree);
    const server = await startNginx(tree, { noRange: true });
    try {
      const { path: rel, buildId } = ids[0]!;
      const got = await extract(server.url, { buildId });
      expect(got.data!.equals(await fs.readFile(path.join(image, rel)))).toBe(true);
      expect(got.err).toMatch(/ignores Range requests/);
    } finally {
      await server.stop();
    }
  });

  it('retries a 500, a cut body and a dropped connection; refuses a corrupt body', async () => {
    await index(tree);
    const { path: rel, buildId } = ids[0]!;
    const want = await fs.readFile(path.join(image, rel));
    const flaky = await startFaultServer(tree, (req) =>
      req.path.endsWith('.tar.xz') && req.count === 1
        ? { status: 500 }
        : req.path.endsWith('.tar.xz') && req.count === 2
          ? { cut: 100 }
          : undefined,
    );
    try {
      const got = await extract(flaky.url, { buildId });
      expect(got.error?.message).toBeUndefined();
      expect(got.data!.equals(want)).toBe(true);
      expect(got.err).toMatch(/HTTP 500; retrying/);
    } finally {
      await flaky.stop();
    }
    const corrupt = await startFaultServer(tree, (req) =>
      req.path.endsWith('.tar.xz') ? { corrupt: 200 } : undefined,
    );
    try {
      const got = await extract(corrupt.url, { buildId });
      expect(got.error).toBeDefined();
      expect(['E_CHANGED', 'E_FORMAT']).toContain(got.error!.code);
    } finally {
      await corrupt.stop();
    }
    const denied = await startFaultServer(tree, () => ({ status: 403 }));
    try {
      const got = await extract(denied.url, { buildId });
      expect(got.error?.code).toBe('E_AUTH');
      expect(got.error?.message).toMatch(/refused access \(HTTP 403\)/);
    } finally {
      await denied.stop();
    }
  });

  it('asks several sources at once: one that lacks the build-id does not hide another that has it', async () => {
    await index(tree);
    const empty = await tmpdir('index-empty');
    await index(empty);
    const other = await startNginx(empty);
    try {
      const { path: rel, buildId } = ids[0]!;
      const got = await extract([other.url, nginx.url], { buildId });
      expect(got.data!.equals(await fs.readFile(path.join(image, rel)))).toBe(true);
      const none = await extract([other.url, nginx.url], { buildId: 'ef'.repeat(20) });
      expect(none.error?.code).toBe('E_NOT_FOUND');
    } finally {
      await other.stop();
    }
  });

  it('refuses a hostile index with a clear error', async () => {
    const hostileTree = await tmpdir('index-hostile');
    await packInto(hostileTree, image, HELLO, 16 << 10);
    await index(hostileTree);
    const { buildId } = ids[0]!;
    const shardFile = path.join(hostileTree, '.packdebug-index/buildid', `${buildId.slice(0, 2)}.json`);
    const original = JSON.parse(await fs.readFile(shardFile, 'utf8')) as {
      tarballs: unknown[][];
      entries: unknown[][];
    };
    const url = pathToFileURL(hostileTree).href + '/';
    const edits: [string, (s: typeof original) => void][] = [
      ['..', (s) => void (s.tarballs[0]![0] = '../../../etc/passwd.tar.xz')],
      ['absolute', (s) => void (s.tarballs[0]![0] = '/etc/x/y.tar.xz')],
      ['past the end', (s) => void ((s.entries[0]![7] as number[])[0] = 1e12)],
      ['absurd size', (s) => void (s.entries[0]![4] = 2 ** 60)],
      ['not JSON', () => undefined],
    ];
    for (const [name, edit] of edits) {
      const copy = JSON.parse(JSON.stringify(original)) as typeof original;
      edit(copy);
      await fs.writeFile(shardFile, name === 'not JSON' ? '{"format":' : JSON.stringify(copy));
      const got = await extract(url, { buildId });
      expect(got.error?.code, name).toBe('E_FORMAT');
      expect(got.error?.message, name).toMatch(/damaged or hostile index object/);
    }
  });

  it('merges fragments written elsewhere without reading the tarballs again', async () => {
    const part = await tmpdir('index-part');
    await packInto(part, image, HELLO, 16 << 10);
    const fragment = path.join(await tmpdir('index-fragment'), 'part.jsonl');
    const f = await index(part, { fragment, fragmentOnly: true });
    expect(f.tarballs).toBe(1);
    await expect(fs.access(path.join(part, '.packdebug-index'))).rejects.toThrow();
    // The CI job's tarball lands in the main tree; the merge reads only the fragment.
    const main = await tmpdir('index-main');
    await fs.cp(part, main, { recursive: true });
    const merged = await index(main, { merge: [fragment] });
    expect({ merged: merged.merged, read: merged.read, tarballs: merged.tarballs }).toEqual({
      merged: 1,
      read: 0,
      tarballs: 1,
    });
    const got = await extract(pathToFileURL(main).href, { buildId: ids[0]!.buildId });
    expect(got.data!.equals(await fs.readFile(path.join(image, ids[0]!.path)))).toBe(true);
    // A file that is not a fragment: one line naming it, and the tree left as it was.
    const bad = path.join(await tmpdir('index-bad-fragment'), 'bad.jsonl');
    await fs.writeFile(bad, '{"x":1}\n');
    const untouched = await tmpdir('index-untouched');
    const r = await execa('node', [CLI, 'index', untouched, '--merge', bad], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`packdebug: ${bad}: not a version 1 index fragment`);
    expect(await fs.readdir(untouched)).toEqual([]);
  });

  it('lets several writers run at once (emerge --jobs): each waits for the lock', async () => {
    const t = await tmpdir('index-parallel');
    await packInto(t, image, HELLO, 16 << 10);
    await packInto(t, oddImage, PORTAGE, 16 << 10);
    const runs = await Promise.all(
      ['app-misc/hello', 'dev-libs/single', 'app-misc/hello'].map((only) =>
        execa('node', [CLI, 'index', t, '--only', only, '--json'], { env: ENV }),
      ),
    );
    expect(runs.every((r) => r.exitCode === 0)).toBe(true);
    const last = await index(t);
    expect(last.tarballs).toBe(2);
    expect(last.read).toBe(0);
  });

  it('is no finding for audit, and from-binpkg --index keeps it current (or writes a fragment)', async () => {
    await index(tree);
    const io = memoryIO(ENV);
    await runAudit({ tree, json: true }, io);
    expect(io.out()).not.toContain('.packdebug-index');

    const pkgdir = await tmpdir('index-pkgdir');
    await makeGpkg(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-5.gpkg.tar'), {
      category: 'app-misc',
      pf: 'hello-1.0',
      buildNumber: '5',
      compression: 'zstd',
    });
    const out = await tmpdir('index-binpkg-tree');
    const fragment = path.join(out, 'fragment.jsonl');
    const bio = memoryIO(ENV);
    expect(await runFromBinpkg({ targets: [pkgdir], out, index: true, indexFragment: fragment, json: true }, bio)).toBe(
      0,
    );
    const summary = JSON.parse(bio.out()) as { index: { tarballs: number; buildIds: number } };
    expect(summary.index.tarballs).toBe(1);
    expect((await fs.readFile(fragment, 'utf8')).split('\n').filter(Boolean)).toHaveLength(2);
    const got = await extract(pathToFileURL(out).href, { buildId: ids[0]!.buildId });
    expect(got.data!.equals(await fs.readFile(path.join(image, ids[0]!.path)))).toBe(true);
    expect(got.err).toContain('hello-1.0-5-debug.tar.xz');
  });

  it("is ignored by debuginfod's -Z .tar.xz scan, which serves the indexed tree as before", async () => {
    const t = await tmpdir('index-debuginfod');
    await packInto(t, image, HELLO, 16 << 10);
    await index(t);
    const server = await Debuginfod.start(t, path.join(await tmpdir('index-debuginfod-db'), 'db.sqlite'));
    try {
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metric(metrics, 'scanned_files_total')).toBe(1);
      const res = await fetch(`${server.url}/buildid/${ids[0]!.buildId}/debuginfo`);
      expect(Buffer.from(await res.arrayBuffer()).equals(await fs.readFile(path.join(image, ids[0]!.path)))).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('extract on a local tree uses its index while it is current, else searches the tarballs', async () => {
    const t = await tmpdir('index-local');
    await packInto(t, image, HELLO, 16 << 10);
    await index(t);
    const { path: rel, buildId } = ids[0]!;
    const want = await fs.readFile(path.join(image, rel));
    const indexed = await extract(t, { buildId });
    expect(indexed.data!.equals(want)).toBe(true);
    expect(indexed.err).toMatch(/through its build-id index: 2 requests/);
    // A new tarball the index does not know yet: the tree is searched as before (and finds the newest).
    await packInto(t, image, { ...HELLO, buildNumber: '3' }, 64 << 10);
    const searched = await extract(t, { buildId });
    expect(searched.data!.equals(want)).toBe(true);
    expect(searched.err).toMatch(/hello-1\.0-3-debug\.tar\.xz, found by/);
  });
});
