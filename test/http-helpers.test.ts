/**
 * Self-test of the helpers for the HTTP interop tests: Debian's nginx over a
 * tree (test/helpers/nginx.ts) and the in-process fault-injecting server
 * (test/helpers/http-faults.ts). curl checks nginx's `noRange` mode from
 * outside Node.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { type IncomingHttpHeaders, request } from 'node:http';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultPlan, type FaultServer, startFaultServer } from './helpers/http-faults.js';
import { tmpdir } from './helpers/images.js';
import { type NginxServer, startNginx } from './helpers/nginx.js';
import { requireTool } from './helpers/tools.js';

const hasNginx = requireTool('nginx');
const hasCurl = requireTool('curl');

const SIZE = 100_000;
/** Every byte differs from its neighbours often enough that an off-by-one range shows. */
const BLOB = Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const SMALL = 'a small text file\n';

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** False when the connection ended before the whole body came. */
  complete: boolean;
}

/** A request with the target sent byte for byte (fetch would resolve `..` before sending). */
function rawRequest(
  base: string,
  target: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port, path: target, method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', () => {}); // a cut answer: 'close' below reports it as incomplete
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            complete: res.complete,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

let root: string;

beforeAll(async () => {
  const dir = await tmpdir('http-helpers');
  root = join(dir, 'tree');
  await mkdir(join(root, 'sub'), { recursive: true });
  await writeFile(join(root, 'blob.bin'), BLOB);
  await writeFile(join(root, 'sub', 'small.txt'), SMALL);
  await symlink('blob.bin', join(root, 'alias.bin'));
  await mkdir(join(dir, 'outside'));
  await writeFile(join(dir, 'outside', 'secret.txt'), 'not to be served\n');
  await symlink('../outside', join(root, 'escape'));
  await symlink('../outside/secret.txt', join(root, 'escape.txt'));
});

describe.skipIf(!hasNginx)('nginx helper', () => {
  let plain: NginxServer;
  let noRange: NginxServer;
  let redirecting: NginxServer;

  beforeAll(async () => {
    [plain, noRange, redirecting] = await Promise.all([
      startNginx(root),
      startNginx(root, { noRange: true }),
      startNginx(root, { redirectPrefix: '/r/' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([plain?.stop(), noRange?.stop(), redirecting?.stop()]);
  });

  it('serves a file whole, with Accept-Ranges, at http://127.0.0.1:PORT/', async () => {
    expect(plain.url).toBe(`http://127.0.0.1:${plain.port}/`);
    const res = await fetch(`${plain.url}blob.bin`);
    expect(res.status).toBe(200);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await res.arrayBuffer()).equals(BLOB)).toBe(true);
    expect((await fetch(`${plain.url}missing.bin`)).status).toBe(404);
    expect((await plain.accessLog()).slice(-2)).toEqual([
      { method: 'GET', path: '/blob.bin', status: 200, bytes: SIZE },
      { method: 'GET', path: '/missing.bin', status: 404, bytes: expect.any(Number) },
    ]);
  });

  it('answers a range with 206, its bytes and Content-Range; HEAD the same headers; 416 past the end', async () => {
    const res = await fetch(`${plain.url}blob.bin`, { headers: { Range: 'bytes=1000-1999' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 1000-1999/${SIZE}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(BLOB.subarray(1000, 2000))).toBe(true);

    const suffix = await fetch(`${plain.url}blob.bin`, { headers: { Range: 'bytes=-10' } });
    expect(suffix.headers.get('content-range')).toBe(`bytes ${SIZE - 10}-${SIZE - 1}/${SIZE}`);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(BLOB.subarray(SIZE - 10))).toBe(true);

    const head = await fetch(`${plain.url}blob.bin`, { method: 'HEAD', headers: { Range: 'bytes=10-19' } });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-length')).toBe('10');
    expect(head.headers.get('content-range')).toBe(`bytes 10-19/${SIZE}`);

    const past = await fetch(`${plain.url}blob.bin`, { headers: { Range: `bytes=${SIZE}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${SIZE}`);
    await past.arrayBuffer();

    const log = await plain.accessLog();
    expect(log.slice(-4)).toEqual([
      { method: 'GET', path: '/blob.bin', status: 206, bytes: 1000, range: 'bytes=1000-1999' },
      { method: 'GET', path: '/blob.bin', status: 206, bytes: 10, range: 'bytes=-10' },
      { method: 'HEAD', path: '/blob.bin', status: 206, bytes: 0, range: 'bytes=10-19' },
      { method: 'GET', path: '/blob.bin', status: 416, bytes: expect.any(Number), range: `bytes=${SIZE}-` },
    ]);
  });

  it.skipIf(!hasCurl)('noRange: a Range request gets 200 and the whole file (curl)', async () => {
    const out = join(root, '..', 'curl-out.bin');
    const r = await execa('curl', [
      '-sS',
      '--noproxy',
      '*',
      '-r',
      '10-19',
      '-D',
      '-',
      '-o',
      out,
      `${noRange.url}blob.bin`,
    ]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.stdout.toLowerCase()).not.toContain('accept-ranges');
    expect(r.stdout.toLowerCase()).not.toContain('content-range');
    expect((await readFile(out)).equals(BLOB)).toBe(true);
    expect((await noRange.accessLog()).at(-1)).toEqual({
      method: 'GET',
      path: '/blob.bin',
      status: 200,
      bytes: SIZE,
      range: 'bytes=10-19',
    });
  });

  it('redirectPrefix: /r/PATH gets a 302 to /PATH (query kept), which fetch follows', async () => {
    const manual = await fetch(`${redirecting.url}r/sub/small.txt?x=1`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    expect(manual.headers.get('location')).toBe(`${redirecting.url}sub/small.txt?x=1`);
    await manual.arrayBuffer();

    const followed = await fetch(`${redirecting.url}r/sub/small.txt`, { headers: { Range: 'bytes=2-6' } });
    expect(followed.redirected).toBe(true);
    expect(followed.status).toBe(206);
    expect(await followed.text()).toBe(SMALL.slice(2, 7));
    expect((await redirecting.accessLog()).slice(-2)).toEqual([
      { method: 'GET', path: '/r/sub/small.txt', status: 302, bytes: expect.any(Number), range: 'bytes=2-6' },
      { method: 'GET', path: '/sub/small.txt', status: 206, bytes: 5, range: 'bytes=2-6' },
    ]);
  });

  it('stop() ends nginx: the port refuses connections afterwards', async () => {
    const server = await startNginx(root);
    expect((await fetch(`${server.url}sub/small.txt`)).status).toBe(200);
    await server.stop();
    await server.stop();
    await expect(rawRequest(server.url, '/sub/small.txt')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('fault server', () => {
  let server: FaultServer;
  let plan: FaultPlan = () => undefined;

  beforeAll(async () => {
    server = await startFaultServer(root, (req) => plan(req));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('without faults serves files with single-range support, HEAD, 404 and 416', async () => {
    plan = () => undefined;
    const whole = await fetch(`${server.url}blob.bin`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await whole.arrayBuffer()).equals(BLOB)).toBe(true);

    for (const [range, start, end] of [
      ['bytes=1000-1999', 1000, 1999],
      ['bytes=99990-', 99990, SIZE - 1],
      ['bytes=-10', SIZE - 10, SIZE - 1],
      ['bytes=99999-200000', 99999, SIZE - 1],
    ] as const) {
      const res = await fetch(`${server.url}blob.bin`, { headers: { Range: range } });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(BLOB.subarray(start, end + 1)), range).toBe(true);
    }

    const head = await fetch(`${server.url}blob.bin`, { method: 'HEAD', headers: { Range: 'bytes=10-19' } });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-length')).toBe('10');
    expect(head.headers.get('content-range')).toBe(`bytes 10-19/${SIZE}`);

    for (const range of [`bytes=${SIZE}-`, 'bytes=-0', 'bytes=20-10']) {
      const res = await fetch(`${server.url}blob.bin`, { headers: { Range: range } });
      expect(res.status, range).toBe(416);
      expect(res.headers.get('content-range'), range).toBe(`bytes */${SIZE}`);
      await res.arrayBuffer();
    }
    // Several ranges are not supported: the Range is ignored.
    const multi = await fetch(`${server.url}blob.bin`, { headers: { Range: 'bytes=0-1,5-6' } });
    expect(multi.status).toBe(200);
    expect((await multi.arrayBuffer()).byteLength).toBe(SIZE);

    expect((await fetch(`${server.url}missing.bin`)).status).toBe(404);
    expect((await fetch(`${server.url}sub`)).status).toBe(404);
    expect(server.requests.at(-1)).toEqual({ method: 'GET', path: '/sub', status: 404 });
  });

  it('never serves outside its directory', async () => {
    plan = () => undefined;
    for (const target of [
      '/../outside/secret.txt',
      '/%2e%2e/outside/secret.txt',
      '/sub%2f..%2f..%2foutside/secret.txt',
    ]) {
      expect((await rawRequest(server.url, target)).status, target).toBe(400);
    }
    expect((await rawRequest(server.url, '/escape/secret.txt')).status).toBe(403);
    expect((await rawRequest(server.url, '/escape.txt')).status).toBe(403);
    const inside = await rawRequest(server.url, '/alias.bin');
    expect(inside.status).toBe(200);
    expect(inside.body.equals(BLOB)).toBe(true);
  });

  it('status fault: the planned answer instead of the file; count numbers the requests per path', async () => {
    const seen: number[] = [];
    plan = (req) => {
      if (req.path !== '/sub/small.txt?status') return undefined;
      seen.push(req.count);
      return req.count === 1 ? { status: 503, body: 'busy\n', headers: { 'Retry-After': '1' } } : undefined;
    };
    const first = await fetch(`${server.url}sub/small.txt?status`);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    expect(await first.text()).toBe('busy\n');
    const second = await fetch(`${server.url}sub/small.txt?status`, { headers: { Range: 'bytes=0-1' } });
    expect(second.status).toBe(206);
    expect(await second.text()).toBe(SMALL.slice(0, 2));
    expect(seen).toEqual([1, 2]);
    expect(server.requests.slice(-2)).toEqual([
      { method: 'GET', path: '/sub/small.txt?status', status: 503 },
      { method: 'GET', path: '/sub/small.txt?status', range: 'bytes=0-1', status: 206 },
    ]);
  });

  it('cut fault: the right headers, then the connection closes after N body bytes', async () => {
    plan = () => ({ cut: 1000 });
    const ranged = await rawRequest(server.url, '/blob.bin', { headers: { Range: 'bytes=500-5499' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers['content-range']).toBe(`bytes 500-5499/${SIZE}`);
    expect(ranged.headers['content-length']).toBe('5000');
    expect(ranged.complete).toBe(false);
    expect(ranged.body.equals(BLOB.subarray(500, 1500))).toBe(true);

    const whole = await rawRequest(server.url, '/blob.bin');
    expect(whole.status).toBe(200);
    expect(whole.complete).toBe(false);
    expect(whole.body.equals(BLOB.subarray(0, 1000))).toBe(true);
    await expect(fetch(`${server.url}blob.bin`).then((res) => res.arrayBuffer())).rejects.toThrow();
  });

  it('corrupt fault: one body byte inverted at the given offset', async () => {
    plan = () => ({ corrupt: 5 });
    const res = await fetch(`${server.url}blob.bin`, { headers: { Range: 'bytes=100-199' } });
    expect(res.status).toBe(206);
    const body = Buffer.from(await res.arrayBuffer());
    const expected = Buffer.from(BLOB.subarray(100, 200));
    expected[5] ^= 0xff;
    expect(body.equals(expected)).toBe(true);
  });

  it('delay fault: the normal answer, later', async () => {
    plan = () => ({ delayMs: 200 });
    const started = performance.now();
    const res = await fetch(`${server.url}sub/small.txt`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(await res.text()).toBe(SMALL);
  });

  it('ignoreRange fault: 200 with the whole file and no Accept-Ranges', async () => {
    plan = () => ({ ignoreRange: true });
    const res = await fetch(`${server.url}blob.bin`, { headers: { Range: 'bytes=10-19' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('accept-ranges')).toBeNull();
    expect(Buffer.from(await res.arrayBuffer()).equals(BLOB)).toBe(true);
    expect(server.requests.at(-1)).toEqual({ method: 'GET', path: '/blob.bin', range: 'bytes=10-19', status: 200 });
  });
});
