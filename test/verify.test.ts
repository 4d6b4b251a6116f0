import { createHash } from 'node:crypto';
/**
 * verify against Debian's debuginfod serving a tree on loopback, and
 * against a tiny HTTP server of the test's own that answers with chosen
 * statuses (retry, credentials, not-found semantics of seed 000).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryIO } from './helpers/io.js';
import { runVerify } from '../src/commands/verify.js';
import type { VerifyArgs } from '../src/commands/verify.args.js';
import type { VerifyReport } from '../src/debuginfod/verify.js';
import { backoffDelay, retryAfterMs } from '../src/http/backoff.js';
import { probeArtifact, type ProbeOptions } from '../src/debuginfod/probe.js';
import { serverUrls } from '../src/debuginfod/urls.js';
import { runFromBinpkg } from '../src/commands/from-binpkg.js';
import { packImage } from '../src/pack/pack.js';
import { makeGpkg } from './helpers/binpkg.js';
import { Debuginfod } from './helpers/debuginfod.js';
import { buildIds, makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const ID = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' };
const hasTools = ['debuginfod', 'tar', 'xz', 'readelf'].map(requireTool).every(Boolean);
const FAST = { backoffBaseMs: 5, backoffCapMs: 20 };

async function verify(args: VerifyArgs, env: NodeJS.ProcessEnv = {}) {
  const io = memoryIO({ PACKDEBUG_CACHE_DIR: '', ...env });
  const status = await runVerify({ ...FAST, ...args, json: true }, io);
  return { status, report: JSON.parse(io.out()) as VerifyReport, err: io.err() };
}

/** An HTTP server whose answers the test scripts per build-id: a list of statuses, the last one repeating. */
class ScriptedServer {
  readonly hits = new Map<string, number>();
  #server: Server;
  url = '';
  constructor(
    readonly script: Map<string, (number | 'hang')[]>,
    readonly body = Buffer.from('served bytes'),
  ) {
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const id = /^\/buildid\/([0-9a-f]+)\/(debuginfo|executable)$/.exec(req.url ?? '')?.[1] ?? '';
      const n = this.hits.get(id) ?? 0;
      this.hits.set(id, n + 1);
      const plan = this.script.get(id) ?? [404];
      const status = plan[Math.min(n, plan.length - 1)]!;
      if (status === 'hang') return; // never answers
      if (status === 429) res.setHeader('retry-after', '0');
      res.statusCode = status;
      res.end(status === 200 ? this.body : `status ${status}\n`);
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const a = this.#server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    return this;
  }
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('debuginfod client pieces', () => {
  it('reads DEBUGINFOD_URLS (space-separated) unless --server is given', () => {
    expect(serverUrls(undefined, { DEBUGINFOD_URLS: ' http://a:8002/  https://b/x/ http://a:8002 ' })).toEqual([
      'http://a:8002',
      'https://b/x',
    ]);
    expect(serverUrls(['http://c'], { DEBUGINFOD_URLS: 'http://a' })).toEqual(['http://c']);
    expect(() => serverUrls(undefined, {})).toThrow(/DEBUGINFOD_URLS/);
    expect(() => serverUrls(['ftp://x'], {})).toThrow(/not http/);
    // elfutils 0.190+ IMA policy tokens are not servers; a bare host:port is http, as curl takes it.
    expect(
      serverUrls(undefined, { DEBUGINFOD_URLS: 'ima:enforcing https://a ima:ignore binhost:8002 file:///srv/d/' }),
    ).toEqual(['https://a', 'http://binhost:8002', 'file:///srv/d']);
    expect(() => serverUrls(undefined, { DEBUGINFOD_URLS: 'ima:ignore' })).toThrow(/no debuginfod server/);
  });

  it('a file:// server is a directory laid out as buildid/ID/KIND', async () => {
    const dir = await tmpdir('verify-file');
    const id = 'ab'.repeat(20);
    await fs.mkdir(path.join(dir, 'buildid', id), { recursive: true });
    await fs.writeFile(path.join(dir, 'buildid', id, 'debuginfo'), 'data');
    const opts: ProbeOptions = {
      retries: 3,
      backoff: { baseMs: 1, capMs: 2 },
      attemptTimeoutMs: 1000,
      signal: new AbortController().signal,
    };
    const url = serverUrls([`file://${dir}/`], {})[0]!;
    expect(await probeArtifact(url, id, 'debuginfo', opts)).toMatchObject({ outcome: 'served', attempts: 1, size: 4 });
    expect(await probeArtifact(url, id, 'executable', opts)).toMatchObject({ outcome: 'missing', attempts: 1 });
    expect(await probeArtifact(url, 'cd'.repeat(20), 'debuginfo', opts)).toMatchObject({ outcome: 'missing' });
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(await probeArtifact(url, id, 'debuginfo', { ...opts, expectSha256: new Set([sha('data')]) })).toMatchObject({
      outcome: 'served',
    });
    expect(await probeArtifact(url, id, 'debuginfo', { ...opts, expectSha256: new Set([sha('other')]) })).toMatchObject(
      { outcome: 'mismatch' },
    );
  });

  it('backs off exponentially with full jitter, capped; honours Retry-After', () => {
    const top = (n: number) => backoffDelay(n, { baseMs: 1000, capMs: 30_000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5, 6, 7].map(top)).toEqual([999, 1999, 3999, 7999, 15999, 29999, 29999]);
    expect(backoffDelay(3, { baseMs: 1000, capMs: 30_000, random: () => 0 })).toBe(0);
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8000);
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});

describe('verify CLI', () => {
  it('without a server: usage error, exit 2, one line', async () => {
    const { execa } = await import('execa');
    const r = await execa('node', [path.resolve('dist/cli.js'), 'verify', path.resolve('fixtures')], {
      reject: false,
      env: { DEBUGINFOD_URLS: '' },
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe('packdebug: no debuginfod server: give --server URL or set DEBUGINFOD_URLS');
  });
});

describe('probe semantics against a scripted server', () => {
  const A = 'aa'.repeat(20);
  const B = 'bb'.repeat(20);
  const C = 'cc'.repeat(20);
  const D = 'dd'.repeat(20);
  const E = 'ee'.repeat(20);
  const F = 'ff'.repeat(20);
  const G = '11'.repeat(20);
  const H = '22'.repeat(20);
  let server: ScriptedServer;
  const opts = (extra: Partial<ProbeOptions> = {}): ProbeOptions => ({
    retries: 3,
    backoff: { baseMs: 5, capMs: 20 },
    attemptTimeoutMs: 5000,
    signal: AbortSignal.timeout(20_000),
    ...extra,
  });

  beforeAll(async () => {
    server = await new ScriptedServer(
      new Map<string, (number | 'hang')[]>([
        [A, [500, 200]],
        [B, [429, 200]],
        [C, [401]],
        [D, [404]],
        [E, [503]],
        [F, [403]],
        [G, [410]],
        [H, ['hang']],
      ]),
    ).start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('500 then 200: retried, served', async () => {
    expect(await probeArtifact(server.url, A, 'debuginfo', opts())).toMatchObject({
      outcome: 'served',
      status: 200,
      attempts: 2,
    });
  });
  it('429 then 200: retried (Retry-After honoured), served', async () => {
    expect(await probeArtifact(server.url, B, 'debuginfo', opts())).toMatchObject({ outcome: 'served', attempts: 2 });
  });
  it('401 and 403: credentials needed, not retried', async () => {
    expect(await probeArtifact(server.url, C, 'debuginfo', opts())).toMatchObject({
      outcome: 'auth',
      status: 401,
      attempts: 1,
    });
    expect(await probeArtifact(server.url, F, 'debuginfo', opts())).toMatchObject({
      outcome: 'auth',
      status: 403,
      attempts: 1,
    });
    expect(server.hits.get(C)).toBe(1);
  });
  it('404 and 410: authoritative absence, not retried', async () => {
    expect(await probeArtifact(server.url, D, 'debuginfo', opts())).toMatchObject({
      outcome: 'missing',
      status: 404,
      attempts: 1,
    });
    expect(await probeArtifact(server.url, G, 'executable', opts())).toMatchObject({
      outcome: 'missing',
      status: 410,
      attempts: 1,
    });
  });
  it('503 forever: retried, then reported with the last status', async () => {
    const r = await probeArtifact(server.url, E, 'debuginfo', opts({ retries: 2 }));
    expect(r).toMatchObject({ outcome: 'error', status: 503, attempts: 3 });
    expect(r.detail).toBe('HTTP 503 after 3 attempts');
    expect(server.hits.get(E)).toBe(3);
  });
  it('no answer: the attempt timeout retries, the total deadline ends it', async () => {
    const started = Date.now();
    const r = await probeArtifact(
      server.url,
      H,
      'debuginfo',
      opts({ retries: 100, attemptTimeoutMs: 200, signal: AbortSignal.timeout(1000) }),
    );
    expect(r.outcome).toBe('error');
    expect(r.detail).toMatch(/deadline exceeded/);
    expect(Date.now() - started).toBeLessThan(5000);
  });
  it('connection refused: retried, then reported', async () => {
    const closed = await new ScriptedServer(new Map()).start();
    await closed.stop();
    const r = await probeArtifact(closed.url, A, 'debuginfo', opts({ retries: 1 }));
    expect(r).toMatchObject({ outcome: 'error', attempts: 2 });
    expect(r.detail).toMatch(/connection refused after 2 attempts/);
  });
  it('deep: the body must have one of the expected digests', async () => {
    const { createHash } = await import('node:crypto');
    const good = createHash('sha256').update(server.body).digest('hex');
    server.hits.delete(A);
    expect(await probeArtifact(server.url, A, 'debuginfo', opts({ expectSha256: new Set([good]) }))).toMatchObject({
      outcome: 'served',
      size: server.body.length,
    });
    server.hits.delete(A);
    expect(
      await probeArtifact(server.url, A, 'debuginfo', opts({ expectSha256: new Set(['0'.repeat(64)]) })),
    ).toMatchObject({ outcome: 'mismatch' });
  });
});

/**
 * A server whose 200 bodies misbehave (issue 12, item 14): `trickle` sends a
 * byte every 100 ms, `endless` sends 64 KiB pieces without end, `silent`
 * sends the headers and nothing more (a plain build-id gets `mode`). Counts the bytes it wrote.
 */
class SlowBodyServer {
  sent = 0;
  /** What a request for a plain build-id gets. */
  mode: 'trickle' | 'endless' | 'silent' = 'trickle';
  #server: Server;
  #timers = new Set<NodeJS.Timeout>();
  url = '';
  constructor() {
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const m = /^\/buildid\/(trickle|endless|silent)?[0-9a-f]*\/(debuginfo|executable)$/.exec(req.url ?? '');
      if (!m) return void res.writeHead(404).end();
      const kind = m[1] ?? this.mode;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.flushHeaders();
      if (kind === 'silent') return;
      const piece = Buffer.alloc(kind === 'endless' ? 1 << 16 : 1, 0x61);
      const send = () => {
        if (res.destroyed) return;
        this.sent += piece.length;
        if (kind === 'endless' && res.write(piece)) return void setImmediate(send);
        if (kind === 'endless') return void res.once('drain', send);
        res.write(piece);
        const t = setTimeout(send, 100);
        this.#timers.add(t);
      };
      send();
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const a = this.#server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    return this;
  }
  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('deep probes of slow or endless bodies end long before the deadline (issue 12, item 14)', () => {
  let server: SlowBodyServer;
  beforeAll(async () => {
    server = await new SlowBodyServer().start();
  });
  afterAll(async () => {
    await server?.stop();
  });
  // The deadline is far away: these must end on their own, within the test's timeout.
  const deep = (extra: Partial<ProbeOptions> = {}): ProbeOptions => ({
    retries: 1,
    backoff: { baseMs: 5, capMs: 20 },
    attemptTimeoutMs: 5000,
    signal: AbortSignal.timeout(600_000),
    expectSha256: new Set(['0'.repeat(64)]),
    expectMaxSize: 100_000,
    bodyTimeoutMs: 500,
    ...extra,
  });

  it('a body trickling a byte at a time is abandoned after the body timeout, retried, then reported', async () => {
    const r = await probeArtifact(server.url, 'trickle', 'debuginfo', deep());
    expect(r).toMatchObject({ outcome: 'error', attempts: 2 });
    expect(r.detail).toMatch(/^body too slow: under 1024 bytes in 0.5 s \(\d+ read\) after 2 attempts$/);
  }, 10_000);

  it('a body that never comes is abandoned the same way', async () => {
    const r = await probeArtifact(server.url, 'silent', 'debuginfo', deep({ retries: 0 }));
    expect(r).toMatchObject({ outcome: 'error', attempts: 1 });
    expect(r.detail).toMatch(/^body too slow: under 1024 bytes in 0.5 s \(0 read\)/);
  }, 10_000);

  it('a body without end is read to one byte past the expected size: a mismatch', async () => {
    const before = server.sent;
    const r = await probeArtifact(server.url, 'endless', 'debuginfo', deep());
    expect(r).toMatchObject({ outcome: 'mismatch', attempts: 1 });
    expect(r.detail).toBe("served more than the tarball member's 100000 bytes (stopped reading)");
    // Socket buffers let the server write ahead, but not without end.
    expect(server.sent - before).toBeLessThan(64 << 20);
  }, 10_000);

  it('verify takes --body-timeout (a positive number of seconds)', async () => {
    const io = memoryIO({ PACKDEBUG_CACHE_DIR: '' });
    await expect(runVerify({ targets: [], servers: [server.url], deep: true, bodyTimeout: 0 }, io)).rejects.toThrow(
      /body timeout must be positive/,
    );
  });
});

describe.skipIf(!hasTools)('verify against Debian debuginfod', () => {
  let work: string;
  let full: string;
  let reduced: string;
  let altered: string;
  let ids: { path: string; buildId: string }[];
  let server: Debuginfod | undefined;

  beforeAll(async () => {
    work = await tmpdir('verify');
    const image = await makeImage('hello');
    ids = await buildIds(image);
    // Every build-id.
    full = path.join(work, 'full/app-misc/hello/hello-1.0-1-debug.tar.xz');
    await packImage({ image, ...ID, out: full, blockSize: 4096, threads: 2 });
    // The served tree lacks libgreet's debug file.
    const cut = await makeImage('hello');
    await fs.rm(path.join(cut, 'usr/lib/debug/usr/lib64/libgreet.so.1.debug'));
    reduced = path.join(work, 'served/app-misc/hello/hello-1.0-1-debug.tar.xz');
    await packImage({ image: cut, ...ID, out: reduced, blockSize: 4096, threads: 2 });
    // Same build-ids, other bytes: hello.debug with a byte appended (its notes are unchanged).
    const other = await makeImage('hello');
    await fs.appendFile(path.join(other, 'usr/lib/debug/usr/bin/hello-hard.debug'), Buffer.from([0]));
    altered = path.join(work, 'altered/app-misc/hello/hello-1.0-1-debug.tar.xz');
    await packImage({ image: other, ...ID, out: altered, blockSize: 4096, threads: 2 });
    server = await Debuginfod.start(path.join(work, 'served'), path.join(work, 'db.sqlite'));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('all served: exit 0, also with --deep, from DEBUGINFOD_URLS', async () => {
    const plain = await verify({ targets: [path.join(work, 'served')] }, { DEBUGINFOD_URLS: server!.url });
    expect(plain.status).toBe(0);
    expect(plain.report).toMatchObject({ ok: true, tarballs: 1, artifacts: 1, served: 1 });
    const deep = await verify({ targets: [reduced], servers: [server!.url], deep: true });
    expect(deep.report).toMatchObject({ ok: true, deep: true, served: 1 });
  });

  it('a build-id removed from the served tree is reported missing for that server; exit 1', async () => {
    const { status, report } = await verify({ targets: [full], servers: [server!.url] });
    expect(status).toBe(1);
    const greet = ids.find((e) => e.path.endsWith('libgreet.so.1.debug'))!.buildId;
    expect(report).toMatchObject({ ok: false, artifacts: 2, served: 1 });
    expect(report.servers[0]!.missing).toEqual([
      expect.objectContaining({
        buildId: greet,
        kind: 'debuginfo',
        status: 404,
        member: './usr/lib/debug/usr/lib64/libgreet.so.1.debug',
      }),
    ]);
  });

  it('--deep reports a served file that differs from the tarball member', async () => {
    const { status, report } = await verify({ targets: [altered], servers: [server!.url], deep: true });
    expect(status).toBe(1);
    const hello = ids.find((e) => e.path.endsWith('usr/bin/hello.debug'))!.buildId;
    expect(report.servers[0]!.mismatched.map((m) => m.buildId)).toEqual([hello]);
    // Without --deep only presence is checked (libgreet is still missing from the served tree).
    const shallow = await verify({ targets: [altered], servers: [server!.url] });
    expect(shallow.report.servers[0]!.mismatched).toEqual([]);
    expect(shallow.report.servers[0]!.missing).toHaveLength(1);
  });

  const slowBodies =
    '--deep against a server whose bodies trickle or never end: reported, not waited for (issue 12, item 14)';
  it(
    slowBodies,
    async () => {
      const slow = await new SlowBodyServer().start();
      try {
        for (const mode of ['trickle', 'endless'] as const) {
          slow.mode = mode;
          const { status, report } = await verify({
            targets: [full],
            servers: [slow.url],
            deep: true,
            retries: 0,
            bodyTimeout: 0.5,
          });
          expect(status, mode).toBe(1);
          const s = report.servers[0]!;
          expect(s.served, mode).toBe(0);
          const [list, pattern] =
            mode === 'trickle' ? [s.errors, /^body too slow/] : [s.mismatched, /^served more than/];
          expect(list, mode).toHaveLength(report.artifacts);
          for (const e of list) expect(e.detail, mode).toMatch(pattern);
        }
      } finally {
        await slow.stop();
      }
    },
    20_000,
  );

  it('caches what each tarball holds while it keeps its path, size, mtime and inode', async () => {
    const cache = await tmpdir('verify-cache');
    const env = { PACKDEBUG_CACHE_DIR: cache };
    expect((await verify({ targets: [full], servers: [server!.url] }, env)).report.artifacts).toBe(2);
    const records = (await fs.readdir(cache)).filter((f) => f.startsWith('artifacts-'));
    expect(records).toHaveLength(1);
    // Doctor the record: a second run must believe it (the tarball was not read again).
    const record = path.join(cache, records[0]!);
    const body = JSON.parse(await fs.readFile(record, 'utf8'));
    body.artifacts = body.artifacts.slice(0, 1);
    await fs.writeFile(record, JSON.stringify(body));
    expect((await verify({ targets: [full], servers: [server!.url] }, env)).report.artifacts).toBe(1);
    // A touched tarball is read again.
    await fs.utimes(full, new Date(), new Date());
    expect((await verify({ targets: [full], servers: [server!.url] }, env)).report.artifacts).toBe(2);
  });

  it('several servers: one that serves is enough, unless --every-server; each is reported', async () => {
    const flaky = await new ScriptedServer(new Map([[ids[0]!.buildId, [500, 401]]])).start();
    try {
      const any = await verify({ targets: [reduced], servers: [flaky.url, server!.url] });
      expect(any.status).toBe(0);
      const every = await verify({ targets: [reduced], servers: [flaky.url, server!.url], everyServer: true });
      expect(every.status).toBe(1);
      const flakyReport = every.report.servers.find((s) => s.url === flaky.url)!;
      expect(flakyReport.served + flakyReport.missing.length + flakyReport.unauthorized.length).toBe(1);
    } finally {
      await flaky.stop();
    }
  });
});

describe.skipIf(!hasTools || !requireTool('zstd'))('binhost CI: binpkg -> from-binpkg -> debuginfod -> verify', () => {
  it('debuginfod serves every build-id of the tarball made from a GPKG, byte for byte', async () => {
    const work = await tmpdir('verify-ci');
    const image = await makeImage('hello');
    // An executable among the debug files: debuginfod indexes it as such, verify asks /executable too.
    await fs.copyFile(path.join(image, 'usr/bin/hello'), path.join(image, 'usr/lib/debug/usr/bin/hello-copy'));
    const pkgdir = path.join(work, 'binpkgs');
    await makeGpkg(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'), {
      category: 'app-misc',
      pf: 'hello-1.0',
      buildNumber: '1',
      compression: 'zstd',
    });
    const tree = path.join(work, 'debug/.tarball');
    const io = memoryIO({});
    expect(await runFromBinpkg({ targets: [pkgdir], out: tree, threads: 2, blockSize: '4KiB' }, io)).toBe(0);
    const server = await Debuginfod.start(tree, path.join(work, 'db.sqlite'));
    try {
      const { status, report } = await verify({ targets: [tree], servers: [server.url], deep: true });
      expect(status).toBe(0);
      expect(report).toMatchObject({ ok: true, artifacts: 3, served: 3 });
      // A tarball that cannot be read fails the run, the others are still checked.
      const junk = path.join(work, 'junk-1-debug.tar.xz');
      await fs.writeFile(junk, 'not xz at all');
      const withJunk = await verify({ targets: [tree, junk], servers: [server.url] });
      expect(withJunk.status).toBe(1);
      expect(withJunk.report).toMatchObject({
        ok: false,
        served: 3,
        unreadable: [expect.objectContaining({ tarball: junk })],
      });
      expect(withJunk.err).toContain(junk);
    } finally {
      await server.stop();
    }
  });
});
