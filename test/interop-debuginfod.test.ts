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
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { copyFile, mkdir, readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repackTarball } from '../src/tarball/repack.js';
import { packImage } from '../src/pack/pack.js';
import { pruneTree } from '../src/prune/prune.js';
import { buildIds, makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const IDENTITY = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildId: '1' } as const;
const SRC = '/usr/src/debug/app-misc/hello-1.0';
const SCAN_DEADLINE_MS = 60_000;

const hasTools = ['debuginfod', 'debuginfod-find', 'tar', 'xz', 'readelf'].map(requireTool).every(Boolean);

/** The environment minus everything that could send a request elsewhere. */
function isolatedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(DEBUGINFOD_|http_proxy$|https_proxy$|all_proxy$|ftp_proxy$)/i.test(key)) delete env[key];
  }
  return { ...env, no_proxy: '127.0.0.1', NO_PROXY: '127.0.0.1', LC_ALL: 'C', ...extra };
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function metric(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A running `debuginfod -Z .tar.xz` over `tree`, scanned and ready. */
class Debuginfod {
  readonly url: string;
  #child: ChildProcess;
  #log: string[] = [];
  #exited: Promise<void>;
  #exitedAlready = false;

  private constructor(port: number, child: ChildProcess) {
    this.url = `http://127.0.0.1:${port}`;
    this.#child = child;
    const keep = (chunk: Buffer) => {
      this.#log.push(chunk.toString());
      if (this.#log.length > 400) this.#log.splice(0, 100);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) =>
      child.once('exit', () => {
        this.#exitedAlready = true;
        resolve();
      }),
    );
  }

  get log(): string {
    return this.#log.join('').split('\n').slice(-40).join('\n');
  }

  static async start(tree: string, db: string, archives = 1): Promise<Debuginfod> {
    const port = await freePort();
    // -t0: scan once at start, no rescans; -g0: no grooming; no -F: only archives are indexed.
    const child = spawn('debuginfod', ['-p', String(port), '-d', db, '-Z', '.tar.xz', '-t0', '-g0', '-v', tree], {
      env: isolatedEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new Debuginfod(port, child);
    // Should the test process die without running afterAll, take the server along.
    const reap = () => {
      if (!server.#exitedAlready) child.kill('SIGKILL');
    };
    process.once('exit', reap);
    void server.#exited.then(() => process.off('exit', reap));
    try {
      await server.#waitForScan(archives);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** Polls /metrics until `archives` tarballs were scanned and debuginfo was found; fails after SCAN_DEADLINE_MS. */
  async #waitForScan(archives: number): Promise<void> {
    const deadline = Date.now() + SCAN_DEADLINE_MS;
    let last = '(no answer yet)';
    while (Date.now() < deadline) {
      if (this.#exitedAlready) throw new Error(`debuginfod exited before it was ready (exit ${this.#child.exitCode}, signal ${this.#child.signalCode}):\n${this.log}`);
      try {
        const res = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
        last = await res.text();
        if (
          res.ok &&
          metric(last, 'scanned_files_total') >= archives &&
          metric(last, 'found_debuginfo_total') >= 1 &&
          metric(last, 'found_sourcerefs_total') >= 1
        ) {
          return;
        }
      } catch (err) {
        last = String(err);
      }
      await sleep(200);
    }
    const counters = last
      .split('\n')
      .filter((l) => /^(scanned_|found_|ready|thread_)/.test(l))
      .join('\n');
    throw new Error(`debuginfod did not report a scanned tarball within ${SCAN_DEADLINE_MS / 1000} s; last metrics:\n${counters || last}\nserver log:\n${this.log}`);
  }

  async stop(): Promise<void> {
    if (this.#exitedAlready) return;
    this.#child.kill('SIGTERM');
    const gone = await Promise.race([this.#exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!gone) {
      this.#child.kill('SIGKILL');
      await Promise.race([this.#exited, sleep(5_000)]);
    }
  }
}

async function find(server: Debuginfod, cache: string, args: string[]): Promise<string> {
  const r = await execa('debuginfod-find', args, {
    env: isolatedEnv({ DEBUGINFOD_URLS: server.url, DEBUGINFOD_CACHE_PATH: cache, DEBUGINFOD_TIMEOUT: '20' }),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
  });
  if (r.exitCode !== 0) {
    throw new Error(`debuginfod-find ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr}\nserver log:\n${server.log}`);
  }
  return r.stdout.trim();
}

/**
 * Registers a server over a tree holding `makeTarball(image, tree)` and the
 * debuginfod-find checks against it.
 */
function servedTarballTests(label: string, makeTarball: (image: string, tree: string) => Promise<{ path: string; blocks: number }>, minBlocks: number) {
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
      const res = await fetch(`${server!.url}/buildid/${'0'.repeat(40)}/debuginfo`, { signal: AbortSignal.timeout(20_000) });
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
      await execa('bash', ['-c', 'cd "$1" && tar -cJf - ./usr/src/debug ./usr/lib/debug > "$2"', 'bash', image, path], { timeout: 60_000 });
      const { stdout } = await execa('xz', ['--robot', '-l', '--', path]);
      const blocks = Number(stdout.split('\n').find((l) => l.startsWith('file\t'))!.split('\t')[2]);
      expect(blocks).toBe(1);
      return { path, blocks };
    },
    1,
  );

  servedTarballTests(
    "Portage's single-Block tarball after packdebug repack (4 KiB Blocks)",
    async (image, dir) => {
      const path = join(dir, 'hello-1.0-1-debug.tar.xz');
      await execa('bash', ['-c', 'cd "$1" && tar -cJf - ./usr/src/debug ./usr/lib/debug > "$2"', 'bash', image, path], { timeout: 60_000 });
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
      for (const buildId of ['1', '2']) await packImage({ image, ...IDENTITY, buildId, blockSize: 4096, threads: 2, out: join(dir, `hello-1.0-${buildId}-debug.tar.xz`) });
      // The build prune deletes is the one debuginfod prefers (it tries the newest mtime first).
      await utimes(join(dir, 'hello-1.0-1-debug.tar.xz'), new Date(), new Date(Date.now() + 3600_000));
      const server = await Debuginfod.start(tree, join(work, 'index.sqlite'), 2);
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
    it.skip('needs debuginfod, debuginfod-find, tar, xz and readelf (apt-get install debuginfod elfutils xz-utils tar binutils)', () => {});
  });
}
