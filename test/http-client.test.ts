/**
 * The HTTP client's semantics (src/http/client.ts), as the Go debuginfod
 * client of seed 000 defines them, against a real server that injects faults.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PackdebugError } from '../src/errors.js';
import { firstAnswer, httpGet, parseContentRange } from '../src/http/client.js';
import { openLocation } from '../src/http/location.js';
import { startFaultServer, type Fault, type FaultServer } from './helpers/http-faults.js';
import { tmpdir } from './helpers/images.js';

const FAST = { backoffBaseMs: 1, backoffCapMs: 5, retries: 2, timeoutMs: 2000 };
const DATA = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (!(err instanceof PackdebugError)) throw err;
    return err.code;
  }
}

describe('HTTP client', () => {
  let root: string;
  const servers: FaultServer[] = [];
  const serve = async (plan: (req: { path: string; count: number }) => Fault | undefined) => {
    const s = await startFaultServer(root, plan);
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    root = await tmpdir('http-client');
    await fs.writeFile(path.join(root, 'data.bin'), DATA);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('reads ranges, and checks them against Content-Range', async () => {
    const s = await serve(() => undefined);
    const r = await httpGet(`${s.url}data.bin`, { range: { start: 100, end: 200 } }, FAST);
    expect(r.body.equals(DATA.subarray(100, 200))).toBe(true);
    expect(r.total).toBe(DATA.length);
    const tail = await httpGet(`${s.url}data.bin`, { range: { suffix: 64 } }, FAST);
    expect(tail.body.equals(DATA.subarray(-64))).toBe(true);
    expect(parseContentRange('bytes 1-0/5')).toBeUndefined();
    expect(parseContentRange('bytes 0-9/5')).toBeUndefined();
  });

  it('maps statuses as the Go client does: 404, 410 and other 4xx not found; 401, 403 authentication', async () => {
    for (const [status, code] of [
      [404, 'E_NOT_FOUND'],
      [410, 'E_NOT_FOUND'],
      [418, 'E_NOT_FOUND'],
      [401, 'E_AUTH'],
      [403, 'E_AUTH'],
    ] as const) {
      const s = await serve(() => ({ status }));
      expect(await codeOf(httpGet(`${s.url}data.bin`, {}, FAST)), String(status)).toBe(code);
      expect(s.requests.length, `${status} is not retried`).toBe(1);
    }
  });

  it('retries 5xx, 429 (after Retry-After) and a cut body within a bound', async () => {
    const flaky = await serve((req) =>
      req.count === 1
        ? { status: 503 }
        : req.count === 2
          ? { status: 429, headers: { 'retry-after': '0' } }
          : undefined,
    );
    const logs: string[] = [];
    const r = await httpGet(`${flaky.url}data.bin`, {}, { ...FAST, log: (m) => logs.push(m) });
    expect(r.body.equals(DATA)).toBe(true);
    expect(logs.join('\n')).toMatch(/HTTP 503; retrying[\s\S]*HTTP 429; retrying/);
    const cut = await serve((req) => (req.count === 1 ? { cut: 10 } : undefined));
    expect((await httpGet(`${cut.url}data.bin`, {}, FAST)).body.equals(DATA)).toBe(true);
    const down = await serve(() => ({ status: 500 }));
    const err = (await httpGet(`${down.url}data.bin`, {}, FAST).catch((e: unknown) => e)) as PackdebugError;
    expect(err.code).toBe('E_NETWORK');
    expect(err.message).toMatch(/HTTP 500 \(gave up after 3 attempts\)/);
    expect(down.requests.length).toBe(3);
  });

  it('times out a stalled server, and reports a refused connection as a network error', async () => {
    const slow = await serve(() => ({ delayMs: 3000 }));
    const t0 = Date.now();
    expect(await codeOf(httpGet(`${slow.url}data.bin`, {}, { ...FAST, retries: 0, timeoutMs: 200 }))).toBe('E_NETWORK');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await codeOf(httpGet('http://127.0.0.1:1/x', {}, { ...FAST, retries: 0 }))).toBe('E_NETWORK');
  });

  it('follows redirects, and takes a whole body from a server that ignores Range', async () => {
    const s = await serve((req) =>
      req.path === '/moved' ? { status: 302, headers: { location: '/data.bin' } } : { ignoreRange: true },
    );
    const r = await httpGet(`${s.url}moved`, { range: { start: 10, end: 20 } }, FAST);
    expect(r.body.equals(DATA.subarray(10, 20))).toBe(true);
    expect(r.ignoredRange).toBe(true);
    expect(r.url).toBe(`${s.url}data.bin`);
  });

  it('refuses a body larger than expected', async () => {
    const s = await serve(() => undefined);
    expect(await codeOf(httpGet(`${s.url}data.bin`, { maxBytes: 100 }, FAST))).toBe('E_FORMAT');
  });

  it('asks several sources at once: first answer wins; not found, then auth, then the first error', async () => {
    const ok = async () => 'ok';
    const err = (code: 'E_NOT_FOUND' | 'E_AUTH' | 'E_NETWORK') => async () => {
      throw new PackdebugError(code, code);
    };
    expect(await firstAnswer([err('E_NOT_FOUND'), ok])).toBe('ok');
    expect(await codeOf(firstAnswer([err('E_AUTH'), err('E_NOT_FOUND')]))).toBe('E_NOT_FOUND');
    expect(await codeOf(firstAnswer([err('E_NETWORK'), err('E_AUTH')]))).toBe('E_AUTH');
    expect(await codeOf(firstAnswer([err('E_NETWORK'), err('E_NETWORK')]))).toBe('E_NETWORK');
    // The losers are cancelled.
    let aborted = false;
    const slow = (signal: AbortSignal) =>
      new Promise<string>((resolve) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve('late');
        });
      });
    expect(await firstAnswer([slow, ok])).toBe('ok');
    expect(aborted).toBe(true);
  });

  it('never reads outside a file:// location', async () => {
    const tree = await tmpdir('http-client-file');
    await fs.writeFile(path.join(tree, 'in.json'), '{}');
    await fs.symlink('/etc/passwd', path.join(tree, 'out.json'));
    const loc = openLocation(`file://${tree}/`);
    expect((await loc.get('in.json', 100)).toString()).toBe('{}');
    expect(await codeOf(loc.get('out.json', 100_000))).toBe('E_UNSAFE');
    expect(await codeOf(loc.get('../etc/passwd', 100_000))).toBe('E_UNSAFE');
    expect(await codeOf(loc.get('missing.json', 100))).toBe('E_NOT_FOUND');
  });
});
