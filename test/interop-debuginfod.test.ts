/**
 * Interop with Debian's debuginfod (0.188 in bookworm): a tree holding a
 * tarball packed from the hello fixture, served with `-Z .tar.xz`, answers
 * `debuginfod-find debuginfo ID` and `debuginfod-find source ID PATH` with
 * the image's files byte for byte. The same is checked for a single-Block
 * tarball made by Portage's own command, as a baseline. And `packdebug
 * prune` deleting a build debuginfod has indexed leaves the build-ids served.
 *
 * Network: the server has no loopback-only option in 0.188, so it listens on
 * every address of this machine on a free port; the tests only ever talk to
 * 127.0.0.1. The server gets no DEBUGINFOD_URLS (so it federates to nobody),
 * the client gets only the local server, and proxies are cleared.
 */
import { copyFile, mkdir, readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repackTarball } from '../src/tarball/repack.js';
import { packImage } from '../src/pack/pack.js';
import { pruneTree } from '../src/prune/prune.js';
import { Debuginfod, isolatedEnv } from './helpers/debuginfod.js';
import { buildIds, makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const IDENTITY = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' } as const;
const SRC = '/usr/src/debug/app-misc/hello-1.0';

const hasTools = ['debuginfod', 'debuginfod-find', 'tar', 'xz', 'readelf'].map(requireTool).every(Boolean);

async function find(server: Debuginfod, cache: string, args: string[]): Promise<string> {
  const r = await execa('debuginfod-find', args, {
    env: isolatedEnv({ DEBUGINFOD_URLS: server.url, DEBUGINFOD_CACHE_PATH: cache, DEBUGINFOD_TIMEOUT: '20' }),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
  });
  if (r.exitCode !== 0) {
    throw new Error(
      `debuginfod-find ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr}\nserver log:\n${server.log}`,
    );
  }
  return r.stdout.trim();
}

/**
 * Registers a server over a tree holding `makeTarball(image, tree)` and the
 * debuginfod-find checks against it.
 */
function servedTarballTests(
  label: string,
  makeTarball: (image: string, tree: string) => Promise<{ path: string; blocks: number }>,
  minBlocks: number,
) {
  describe(label, () => {
    let image: string;
    let server: Debuginfod | undefined;
    let cache: string;
    let ids: { path: string; buildId: string }[];

    beforeAll(async () => {
      if (!hasTools) return;
      image = await makeImage('hello');
      ids = await buildIds(image);
      const work = await tmpdir('debuginfod');
      const tree = join(work, 'tree');
      await mkdir(join(tree, 'app-misc/hello'), { recursive: true });
      cache = join(work, 'client-cache');
      const { blocks } = await makeTarball(image, join(tree, 'app-misc/hello'));
      expect(blocks).toBeGreaterThanOrEqual(minBlocks);
      server = await Debuginfod.start(tree, join(work, 'index.sqlite'));
    });

    afterAll(async () => {
      await server?.stop();
    });

    it.skipIf(!hasTools)('debuginfod-find debuginfo returns each .debug file of the image byte for byte', async () => {
      const wanted = ['usr/lib/debug/usr/bin/hello.debug', 'usr/lib/debug/usr/lib64/libgreet.so.1.debug'];
      for (const rel of wanted) {
        const id = ids.find((e) => e.path === rel)?.buildId;
        expect(id, `build-id of ${rel}`).toMatch(/^[0-9a-f]{40}$/);
        const got = await find(server!, cache, ['debuginfo', id!]);
        expect((await readFile(got)).equals(await readFile(join(image, rel))), `${rel} via ${got}`).toBe(true);
      }
    });

    it.skipIf(!hasTools)('debuginfod-find source returns the source files byte for byte', async () => {
      const hello = ids.find((e) => e.path === 'usr/lib/debug/usr/bin/hello.debug')!.buildId;
      const greet = ids.find((e) => e.path === 'usr/lib/debug/usr/lib64/libgreet.so.1.debug')!.buildId;
      for (const [id, file] of [
        [hello, 'hello.c'],
        [hello, 'util.c'],
        [greet, 'libgreet.c'],
      ] as const) {
        const got = await find(server!, cache, ['source', id, `${SRC}/${file}`]);
        expect((await readFile(got)).equals(await readFile(join(image, SRC, file))), `${file} via ${got}`).toBe(true);
      }
    });

    it.skipIf(!hasTools)('answers 404 for a build-id it does not have (and asks nobody else)', async () => {
      const res = await fetch(`${server!.url}/buildid/${'0'.repeat(40)}/debuginfo`, {
        signal: AbortSignal.timeout(20_000),
      });
      expect(res.status).toBe(404);
    });
  });
}

if (hasTools) {
  servedTarballTests(
    'a packdebug tarball of the hello image (4 KiB Blocks)',
    async (image, dir) => {
      const r = await packImage({ image, ...IDENTITY, blockSize: 4096, threads: 2 });
      expect(r.status).toBe('packed');
      const path = join(dir, 'hello-1.0-1-debug.tar.xz');
      await copyFile(r.tarball!, path);
      return { path, blocks: r.blocks };
    },
    3,
  );

  servedTarballTests(
    "baseline: Portage's own single-Block tarball (cd ED && tar -cJf - ./usr/src/debug ./usr/lib/debug)",
    async (image, dir) => {
      const path = join(dir, 'hello-1.0-1-debug.tar.xz');
      await execa('bash', ['-c', 'cd "$1" && tar -cJf - ./usr/src/debug ./usr/lib/debug > "$2"', 'bash', image, path], {
        timeout: 60_000,
      });
      const { stdout } = await execa('xz', ['--robot', '-l', '--', path]);
      const blocks = Number(
        stdout
          .split('\n')
          .find((l) => l.startsWith('file\t'))!
          .split('\t')[2],
      );
      expect(blocks).toBe(1);
      return { path, blocks };
    },
    1,
  );

  servedTarballTests(
    "Portage's single-Block tarball after packdebug repack (4 KiB Blocks)",
    async (image, dir) => {
      const path = join(dir, 'hello-1.0-1-debug.tar.xz');
      await execa('bash', ['-c', 'cd "$1" && tar -cJf - ./usr/src/debug ./usr/lib/debug > "$2"', 'bash', image, path], {
        timeout: 60_000,
      });
      const r = await repackTarball(path, { blockSize: 4096, threads: 2 });
      expect(r.status).toBe('repacked');
      return { path, blocks: r.blocksAfter! };
    },
    3,
  );
  describe('packdebug prune while debuginfod serves the tree', () => {
    it('deletes the old build; the build-ids stay served from the kept tarball', async () => {
      const image = await makeImage('hello');
      const ids = await buildIds(image);
      const work = await tmpdir('debuginfod-prune');
      const tree = join(work, 'tree');
      const dir = join(tree, 'app-misc/hello');
      await mkdir(dir, { recursive: true });
      // Two builds of one version (the same files, so the same build-ids).
      for (const buildNumber of ['1', '2'])
        await packImage({
          image,
          ...IDENTITY,
          buildNumber,
          blockSize: 4096,
          threads: 2,
          out: join(dir, `hello-1.0-${buildNumber}-debug.tar.xz`),
        });
      // The build prune deletes is the one debuginfod prefers (it tries the newest mtime first).
      await utimes(join(dir, 'hello-1.0-1-debug.tar.xz'), new Date(), new Date(Date.now() + 3600_000));
      const server = await Debuginfod.start(tree, join(work, 'index.sqlite'), { archives: 2 });
      try {
        const r = await pruneTree({ tree, keep: 1 });
        expect(r.deleted.map((d) => d.rel)).toEqual(['app-misc/hello/hello-1.0-1-debug.tar.xz']);
        const rel = 'usr/lib/debug/usr/bin/hello.debug';
        const id = ids.find((e) => e.path === rel)!.buildId;
        const got = await find(server, join(work, 'client-cache'), ['debuginfo', id]);
        expect((await readFile(got)).equals(await readFile(join(image, rel)))).toBe(true);
        const src = await find(server, join(work, 'client-cache-2'), ['source', id, `${SRC}/hello.c`]);
        expect((await readFile(src)).equals(await readFile(join(image, SRC, 'hello.c')))).toBe(true);
      } finally {
        await server.stop();
      }
    }, 120_000);
  });
} else {
  describe('debuginfod interop', () => {
    it.skip(
      'needs debuginfod, debuginfod-find, tar, xz and readelf ' +
        '(apt-get install debuginfod elfutils xz-utils tar binutils)',
      () => {},
    );
  });
}
