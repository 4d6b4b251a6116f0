/**
 * packdebug serve against real clients: Debian's debuginfod-find (debuginfo,
 * executable, source, section) through a server over a local tree and over
 * a tree that nginx serves, byte-identical to what Debian's debuginfod serves
 * from the same tree; hostile requests; many clients at once; a damaged
 * cache entry; SIGTERM with a request in flight.
 */
import { execa, type ResultPromise } from 'execa';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Debuginfod } from './helpers/debuginfod.js';
import { elfWithNoteInTheMiddle } from './helpers/elf.js';
import { startFaultServer } from './helpers/http-faults.js';
import { buildIds, makeImage, tmpdir } from './helpers/images.js';
import { startNginx } from './helpers/nginx.js';
import { requireTool } from './helpers/tools.js';
import { packInto } from './helpers/trees.js';

const hasTools =
  requireTool('gcc') &&
  requireTool('tar') &&
  requireTool('xz') &&
  requireTool('debuginfod') &&
  requireTool('nginx') &&
  requireTool('gdb');
const CLI = path.resolve('dist/cli.js');
const HELLO = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' };

interface Served {
  url: string;
  child: ResultPromise;
  stderr: () => string;
}

/** `packdebug serve ARGS` on a free port; resolves once it listens. */
async function serve(args: string[]): Promise<Served> {
  const child = execa('node', [CLI, 'serve', ...args, '--listen', '127.0.0.1:0'], {
    reject: false,
    env: { PACKDEBUG_CACHE_DIR: '' },
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  for (let i = 0; i < 300; i++) {
    const m = /serving .* on (http:\/\/\S+)/.exec(err);
    if (m) return { url: m[1]!, child, stderr: () => err };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`packdebug serve did not start: ${err}`);
}

async function stop(s: Served | undefined): Promise<void> {
  if (!s) return;
  s.child.kill('SIGTERM');
  await s.child;
}

/** debuginfod-find against `url`, into a fresh client cache; the file's bytes. */
async function find(url: string, args: string[]): Promise<Buffer | undefined> {
  const cache = await tmpdir('serve-client');
  const r = await execa('debuginfod-find', args, {
    reject: false,
    env: { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: cache, DEBUGINFOD_TIMEOUT: '30' },
  });
  if (r.exitCode !== 0) return undefined;
  return fs.readFile(String(r.stdout).trim());
}

/** A raw request (for targets fetch and curl would normalise). */
function rawGet(url: string, target: string, extraHeaders = ''): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extraHeaders}\r\n`);
    });
    let data = '';
    socket.on('data', (c) => (data += c.toString('latin1')));
    socket.on('end', () => resolve(data.split('\r\n')[0]!));
    socket.on('error', reject);
  });
}

describe.skipIf(!hasTools)('packdebug serve', () => {
  let tree: string;
  let image: string;
  let ids: { path: string; buildId: string }[];
  let source: string;
  let local: Served | undefined;
  let reference: Debuginfod | undefined;

  beforeAll(async () => {
    tree = await tmpdir('serve-tree');
    image = await makeImage('hello');
    ids = await buildIds(image);
    await packInto(tree, image, HELLO, 16 << 10);
    source = (await execa('find', ['usr/src/debug', '-type', 'f', '-name', '*.c'], { cwd: image })).stdout
      .split('\n')
      .sort()[0]!;
    local = await serve([tree, '--cache', await tmpdir('serve-cache')]);
    reference = await Debuginfod.start(tree, path.join(await tmpdir('serve-db'), 'db.sqlite'), { sources: true });
  }, 120_000);

  afterAll(async () => {
    await stop(local);
    await reference?.stop();
  });

  it('debuginfod-find gets debuginfo, source and section byte-identical to Debian debuginfod', async () => {
    for (const { path: rel, buildId } of ids) {
      const ours = await find(local!.url, ['debuginfo', buildId]);
      expect(ours?.equals(await fs.readFile(path.join(image, rel))), rel).toBe(true);
      const theirs = await find(reference!.url, ['debuginfo', buildId]);
      expect(ours!.equals(theirs!)).toBe(true);
      const section = await find(local!.url, ['section', buildId, '.debug_info']);
      const theirSection = await find(reference!.url, ['section', buildId, '.debug_info']);
      expect(section?.length).toBeGreaterThan(0);
      if (theirSection) expect(section!.equals(theirSection)).toBe(true);
    }
    const { buildId } = ids[0]!;
    const ours = await find(local!.url, ['source', buildId, `/${source}`]);
    expect(ours?.equals(await fs.readFile(path.join(image, source)))).toBe(true);
    const theirs = await find(reference!.url, ['source', buildId, `/${source}`]);
    if (theirs) expect(ours!.equals(theirs)).toBe(true);
    expect(await find(local!.url, ['debuginfo', 'ab'.repeat(20)])).toBeUndefined();
    expect(await find(local!.url, ['section', buildId, '.no_such_section'])).toBeUndefined();
  });

  it('debuginfod-find gets an executable (an unstripped program in a tarball) as Debian debuginfod does', async () => {
    const t = await tmpdir('serve-exe');
    const img = path.join(await tmpdir('serve-exe-image'), 'image');
    const rel = 'usr/lib/debug/usr/bin/tool.debug';
    await fs.mkdir(path.dirname(path.join(img, rel)), { recursive: true });
    const src = path.join(img, '..', 'tool.c');
    await fs.writeFile(src, 'int main(void) { return 0; }\n');
    await execa('gcc', ['-g', '-O0', '-Wl,--build-id=sha1', '-o', path.join(img, rel), src]);
    const buildId = (await buildIds(img))[0]!.buildId;
    await packInto(t, img, { category: 'dev-util', pn: 'tool', pf: 'tool-1', buildNumber: '1' }, 16 << 10);
    const s = await serve([t, '--cache', await tmpdir('serve-cache-exe')]);
    const ref = await Debuginfod.start(t, path.join(await tmpdir('serve-exe-db'), 'db.sqlite'));
    try {
      const ours = await find(s.url, ['executable', buildId]);
      expect(ours?.equals(await fs.readFile(path.join(img, rel)))).toBe(true);
      expect(ours!.equals((await find(ref.url, ['executable', buildId]))!)).toBe(true);
      // Its .text has contents: a section from the executable.
      const text = await find(s.url, ['section', buildId, '.text']);
      expect(text?.length).toBeGreaterThan(0);
    } finally {
      await stop(s);
      await ref.stop();
    }
  });

  it('sends the headers debuginfod sends, and HEAD', async () => {
    const { buildId, path: rel } = ids[0]!;
    const size = (await fs.stat(path.join(image, rel))).size;
    const res = await fetch(`${local!.url}/buildid/${buildId}/debuginfo`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-debuginfod-size')).toBe(String(size));
    expect(res.headers.get('x-debuginfod-file')).toBe(path.basename(rel));
    expect(res.headers.get('x-debuginfod-archive')).toBe(path.join(tree, 'app-misc/hello/hello-1.0-1-debug.tar.xz'));
    const metrics = await (await fetch(`${local!.url}/metrics`)).text();
    expect(metrics).toMatch(/packdebug_serve_requests_total\{kind="debuginfo",status="200"\} \d+/);
    expect(metrics).toMatch(/packdebug_serve_cache_hits_total \d+/);
  });

  it('serves a tree on a static mirror (nginx) through its index, byte-identical', async () => {
    const mirrorTree = await tmpdir('serve-mirror');
    await fs.cp(tree, mirrorTree, { recursive: true });
    await execa('node', [CLI, 'index', mirrorTree]);
    const nginx = await startNginx(mirrorTree);
    const viaMirror = await serve([nginx.url, '--cache', await tmpdir('serve-cache-mirror')]);
    try {
      for (const { path: rel, buildId } of ids) {
        const got = await find(viaMirror.url, ['debuginfo', buildId]);
        expect(got?.equals(await fs.readFile(path.join(image, rel))), rel).toBe(true);
      }
      const src = await find(viaMirror.url, ['source', ids[0]!.buildId, `/${source}`]);
      expect(src?.equals(await fs.readFile(path.join(image, source)))).toBe(true);
    } finally {
      await stop(viaMirror);
      await nginx.stop();
    }
  });

  it('refuses hostile requests with 400 or 404, never a file outside the tree', async () => {
    const id = ids[0]!.buildId;
    const cases: [string, number[]][] = [
      [`/buildid/${id}/source/../../../../etc/passwd`, [400]],
      [`/buildid/${id}/source/%2e%2e/%2e%2e/%2e%2e/etc/passwd`, [400]],
      [`/buildid/${id}/source/usr/src/debug%2f..%2f..%2f..%2fetc%2fpasswd`, [400, 404]],
      [`/buildid/${id}/source/etc/passwd%00.c`, [400]],
      [`/buildid/${id}/source/etc/passwd`, [404]],
      ['/buildid/xyz/debuginfo', [400]],
      [`/buildid/${'a'.repeat(9000)}/debuginfo`, [414, 400, 431]],
      [`/buildid/${id}/debuginfo/extra`, [404]],
      ['/etc/passwd', [404]],
      [`/buildid/${id}/section/..%2f..%2fetc`, [400]],
    ];
    for (const [target, statuses] of cases) {
      const line = await rawGet(local!.url, target);
      const status = Number(line.split(' ')[1]);
      expect(statuses, `${target}: ${line}`).toContain(status);
    }
    const huge = await rawGet(local!.url, `/buildid/${id}/debuginfo`, `X-Big: ${'x'.repeat(64 << 10)}\r\n`);
    expect(huge).toMatch(/ 4(00|31) /);
    // Still serving.
    expect((await fetch(`${local!.url}/buildid/${id}/debuginfo`)).status).toBe(200);
  });

  it('gives 64 concurrent clients correct bytes', async () => {
    const cache = await tmpdir('serve-cache-64');
    const fresh = await serve([tree, '--cache', cache]);
    try {
      const wants = await Promise.all(ids.map(async (x) => fs.readFile(path.join(image, x.path))));
      const results = await Promise.all(
        Array.from({ length: 64 }, async (_, i) => {
          const k = i % ids.length;
          const res = await fetch(`${fresh.url}/buildid/${ids[k]!.buildId}/debuginfo`);
          return Buffer.from(await res.arrayBuffer()).equals(wants[k]!);
        }),
      );
      expect(results.every(Boolean)).toBe(true);
    } finally {
      await stop(fresh);
    }
  });

  it('detects a damaged cache entry and fetches it again', async () => {
    const cache = await tmpdir('serve-cache-damaged');
    const { buildId, path: rel } = ids[0]!;
    const want = await fs.readFile(path.join(image, rel));
    let s = await serve([tree, '--cache', cache]);
    expect(Buffer.from(await (await fetch(`${s.url}/buildid/${buildId}/debuginfo`)).arrayBuffer()).equals(want)).toBe(
      true,
    );
    await stop(s);
    const files = (await execa('find', [cache, '-name', '*.data'])).stdout.split('\n').filter(Boolean);
    for (const f of files) {
      const b = await fs.readFile(f);
      b[100] ^= 0xff;
      await fs.writeFile(f, b);
    }
    s = await serve([tree, '--cache', cache]);
    try {
      const got = Buffer.from(await (await fetch(`${s.url}/buildid/${buildId}/debuginfo`)).arrayBuffer());
      expect(got.equals(want)).toBe(true);
    } finally {
      await stop(s);
    }
  });

  it('finishes the request in flight on SIGTERM, then exits 0', async () => {
    const s = await serve([tree, '--cache', await tmpdir('serve-cache-term')]);
    const { buildId, path: rel } = ids[0]!;
    const pending = fetch(`${s.url}/buildid/${buildId}/debuginfo`).then(async (r) =>
      Buffer.from(await r.arrayBuffer()),
    );
    await new Promise((r) => setTimeout(r, 20));
    s.child.kill('SIGTERM');
    const got = await pending;
    expect(got.equals(await fs.readFile(path.join(image, rel)))).toBe(true);
    const r = await s.child;
    expect(r.exitCode).toBe(0);
  });

  /**
   * gdb on the stripped fixture program, its debug info and sources only in
   * the tree: a backtrace with function names and source lines.
   */
  async function gdbBacktrace(url: string): Promise<string> {
    const cache = await tmpdir('serve-gdb');
    const r = await execa(
      'gdb',
      [
        '-batch',
        '-nx',
        // -iex: before the program is loaded, so its debug info is looked up through debuginfod.
        '-iex',
        'set debuginfod enabled on',
        '-iex',
        'set debug-file-directory /nonexistent',
        '-ex',
        'break count_letters',
        '-ex',
        'run',
        '-ex',
        'bt',
        '-ex',
        'list',
        '--args',
        path.join(image, 'usr/bin/hello'),
        'packdebug',
      ],
      {
        reject: false,
        timeout: 60_000,
        env: { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: cache, DEBUGINFOD_TIMEOUT: '30', HOME: cache },
      },
    );
    return `${r.stdout}\n${r.stderr}`;
  }

  it('gives gdb function names and source lines, from a local tree and from a mirror', async () => {
    const out = await gdbBacktrace(local!.url);
    expect(out).toMatch(/#0 +count_letters \(s=.*\) at .*util\.c:\d+/);
    expect(out).toMatch(/#1 +.*main \(.*\) at .*hello\.c:\d+/);
    // The source lines themselves came through /source/.
    expect(out).toMatch(/for \(; \*s; s\+\+\)/);
    const mirrorTree = await tmpdir('serve-gdb-mirror');
    await fs.cp(tree, mirrorTree, { recursive: true });
    await execa('node', [CLI, 'index', mirrorTree]);
    const nginx = await startNginx(mirrorTree);
    const viaMirror = await serve([nginx.url, '--cache', await tmpdir('serve-cache-gdb')]);
    try {
      const again = await gdbBacktrace(viaMirror.url);
      expect(again).toMatch(/#0 +count_letters \(s=.*\) at .*util\.c:\d+/);
      expect(again).toMatch(/for \(; \*s; s\+\+\)/);
    } finally {
      await stop(viaMirror);
      await nginx.stop();
    }
    // Without the server, no names: the program is stripped.
    const none = await gdbBacktrace('http://127.0.0.1:1');
    expect(none).not.toMatch(/count_letters \(s=/);
  });

  it('a mirror that stalls or answers garbage does not hold up the other requests', async () => {
    const t = await tmpdir('serve-stall');
    await packInto(t, image, HELLO, 16 << 10);
    // Another package, with a build-id of its own.
    const odd = path.join(await tmpdir('serve-stall-image'), 'image');
    const rel = 'usr/lib/debug/usr/lib64/other.so.debug';
    await fs.mkdir(path.dirname(path.join(odd, rel)), { recursive: true });
    await fs.writeFile(path.join(odd, rel), elfWithNoteInTheMiddle(Buffer.from('77'.repeat(20), 'hex'), 5000, 5000));
    const oddIds = [{ path: rel, buildId: '77'.repeat(20) }];
    await packInto(t, odd, { category: 'dev-libs', pn: 'odd', pf: 'odd-1', buildNumber: '1' }, 16 << 10);
    await execa('node', [CLI, 'index', t]);
    const mirror = await startFaultServer(t, (req) =>
      req.path.includes('/app-misc/hello/')
        ? { delayMs: 20_000 }
        : req.path.includes('/odd/') && req.count > 0
          ? undefined
          : undefined,
    );
    const s = await serve([mirror.url, '--cache', await tmpdir('serve-cache-stall'), '--timeout', '30']);
    try {
      const stalled = fetch(`${s.url}/buildid/${ids[0]!.buildId}/debuginfo`).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      const other = await fetch(`${s.url}/buildid/${oddIds[0]!.buildId}/debuginfo`);
      expect(other.status).toBe(200);
      expect(Buffer.from(await other.arrayBuffer()).equals(await fs.readFile(path.join(odd, oddIds[0]!.path)))).toBe(
        true,
      );
      expect(Date.now() - t0).toBeLessThan(5_000);
      void stalled;
    } finally {
      s.child.kill('SIGKILL');
      await s.child;
      await mirror.stop();
    }
    const garbage = await startFaultServer(t, (req) =>
      req.path.includes('/app-misc/hello/') && req.path.endsWith('.tar.xz') ? { corrupt: 100 } : undefined,
    );
    const g = await serve([garbage.url, '--cache', await tmpdir('serve-cache-garbage'), '--retries', '0']);
    try {
      const bad = await fetch(`${g.url}/buildid/${ids[0]!.buildId}/debuginfo`);
      expect(bad.status).toBeGreaterThanOrEqual(400);
      const good = await fetch(`${g.url}/buildid/${oddIds[0]!.buildId}/debuginfo`);
      expect(good.status).toBe(200);
    } finally {
      await stop(g);
      await garbage.stop();
    }
  }, 60_000);

  it('holds little memory for a 300 MB file sent to a slow client, and frees a client that leaves', async () => {
    const t = await tmpdir('serve-big');
    const img = path.join(await tmpdir('serve-big-image'), 'image');
    const dir = path.join(img, 'usr/lib/debug/usr/lib64');
    await fs.mkdir(dir, { recursive: true });
    const id = Buffer.from('5e'.repeat(20), 'hex');
    const size = 300 << 20;
    await fs.writeFile(path.join(dir, 'big.so.debug'), elfWithNoteInTheMiddle(id, size >> 1, size >> 1));
    const out = path.join(t, 'dev-libs/big/big-1-1-debug.tar.xz');
    await fs.mkdir(path.dirname(out), { recursive: true });
    const tar = 'tar --format=gnu --sort=name --owner=0 --group=0 --mtime=@0 -C "$1" -cf - ./usr/lib/debug';
    await execa('bash', ['-c', `${tar} | xz -0 -T1 --block-size=32MiB > "$2"`, '_', img, out]);
    await fs.rm(img, { recursive: true });
    await execa('node', [CLI, 'index', t]);
    const s = await serve([t, '--cache', await tmpdir('serve-cache-big'), '--cache-size', '2GiB']);
    try {
      const url = new URL(`${s.url}/buildid/${id.toString('hex')}/debuginfo`);
      // A client that reads slowly: 64 KiB, then a pause, a few times, then the rest.
      const received = await new Promise<number>((resolve, reject) => {
        const req = http.get(url, (res) => {
          let n = 0;
          let paused = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (paused < 5 && n > (paused + 1) * (1 << 20)) {
              paused++;
              res.pause();
              setTimeout(() => res.resume(), 300);
            }
          });
          res.on('end', () => resolve(n));
          res.on('error', reject);
        });
        req.on('error', reject);
      });
      expect(received).toBeGreaterThan(size);
      // A client that leaves after the headers.
      const { hostname, port } = new URL(s.url);
      await new Promise<void>((resolve) => {
        const socket = net.connect(Number(port), hostname, () => {
          socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: x\r\n\r\n`);
        });
        socket.once('data', () => {
          socket.destroy();
          resolve();
        });
      });
      await new Promise((r) => setTimeout(r, 500));
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/^packdebug_serve_requests_in_flight 1$/m);
      const status = await fs.readFile(`/proc/${s.child.pid}/status`, 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
      expect(hwm).toBeLessThan(200e6);
    } finally {
      await stop(s);
    }
  }, 120_000);

  it('asks an upstream debuginfod for what the trees lack', async () => {
    const empty = await tmpdir('serve-empty');
    const s = await serve([empty, '--upstream', reference!.url, '--cache', await tmpdir('serve-cache-up')]);
    try {
      const { buildId, path: rel } = ids[0]!;
      const got = await find(s.url, ['debuginfo', buildId]);
      expect(got?.equals(await fs.readFile(path.join(image, rel)))).toBe(true);
      expect(await find(s.url, ['debuginfo', 'cd'.repeat(20)])).toBeUndefined();
    } finally {
      await stop(s);
    }
  });
});
