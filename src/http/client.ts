/**
 * HTTP GETs as the Go debuginfod client of seed 000 treats them: 404 and
 * 410 (and any other 4xx but 401 and 403) mean not found; 401 and 403 are
 * an authentication error naming the server; network errors, timeouts, a
 * body cut short, 5xx and 429 are transport errors, retried with capped
 * exponential backoff (full jitter, Retry-After honoured) within a bound.
 *
 * Requests go through node:http and node:https with a keep-alive agent,
 * not Node's fetch: fetch loads and compiles undici on first use, about
 * 200 ms of a process that a debugger starts once per file it asks for
 * (measured: a bare fetch of a small object costs 0.31 s, node:http 0.11 s,
 * an empty node process 0.10 s). Redirects, timeouts and body limits are a
 * few lines here; a library would add retries, whose semantics are
 * prescribed here anyway.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { FileHandle } from 'node:fs/promises';
import https from 'node:https';
import { PackdebugError } from '../errors.js';
import { parseNumberOption } from '../util/size.js';
import { backoffDelay, retryAfterMs } from './backoff.js';

export interface HttpOptions {
  /** Limit for one attempt (connecting, headers and body), in ms. Default 30 s. */
  timeoutMs?: number;
  /** Retries of a transport failure after the first attempt. Default 3. */
  retries?: number;
  /** First backoff ceiling and its cap, in ms. Default 250 ms and 4 s. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Non-fatal events: retries, a server that ignores Range. */
  log?: (message: string) => void;
  /** Ends every attempt at once (another source answered first). */
  signal?: AbortSignal;
}

export interface HttpRequest {
  /** Bytes [start, end) of the resource, or its last `suffix` bytes; the whole resource when absent. */
  range?: { start: number; end: number } | { suffix: number };
  /** Refuse a body larger than this (a hostile or wrong object). Default 1 GiB. */
  maxBytes?: number;
  /** Write the body into this file from offset 0 instead of memory (`body` is then empty; `written` its size). */
  into?: FileHandle;
}

export interface HttpResponse {
  /** The URL that answered, after redirects. */
  url: string;
  body: Buffer;
  /** With a range request: the bytes asked for (cut from a 200 when the server ignored Range). */
  ignoredRange: boolean;
  /** The whole resource, when a server ignored the Range asked for and sent it all. */
  whole?: Buffer;
  /** The resource's full size, when the response says (Content-Range, or a 200's length). */
  total?: number;
  headers: IncomingHttpHeaders;
  /** Bytes of body received (into the file, with `into`). */
  written: number;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 3;
/** The first backoff ceiling and its cap (HttpOptions.backoffBaseMs, backoffCapMs). */
export const DEFAULT_BACKOFF = { baseMs: 250, capMs: 4000 } as const;
const DEFAULT_MAX_BYTES = 1 << 30;

/**
 * HttpOptions from the --timeout (seconds) and --retries options of extract
 * and serve, as the user wrote them; the defaults above when absent.
 */
export function httpOptionsFromFlags(
  flags: { timeout?: string; retries?: string },
  log: (message: string) => void,
): HttpOptions {
  return {
    timeoutMs: parseNumberOption('timeout', flags.timeout, DEFAULT_TIMEOUT_MS / 1000) * 1000,
    retries: parseNumberOption('retries', flags.retries, DEFAULT_RETRIES, { integer: true }),
    log,
  };
}

/** The server part of a URL, for messages (no path, no credentials). */
export function serverOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return url;
  }
}

/** A failure worth another attempt. */
class TransportError extends Error {
  constructor(
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** One GET with retries; the errors are PackdebugErrors (E_NOT_FOUND, E_AUTH, E_NETWORK, E_FORMAT). */
export async function httpGet(
  url: string,
  request: HttpRequest = {},
  options: HttpOptions = {},
): Promise<HttpResponse> {
  const retries = options.retries ?? DEFAULT_RETRIES;
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptGet(url, request, options);
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      if (options.signal?.aborted) throw abortedError(url);
      if (attempt >= retries) {
        throw new PackdebugError(
          'E_NETWORK',
          `${url}: ${err.message} (gave up after ${attempt + 1} attempt${attempt === 0 ? '' : 's'})`,
          { file: url, cause: err },
        );
      }
      const wait =
        err.retryAfter ??
        backoffDelay(attempt + 1, {
          baseMs: options.backoffBaseMs ?? DEFAULT_BACKOFF.baseMs,
          capMs: options.backoffCapMs ?? DEFAULT_BACKOFF.capMs,
        });
      options.log?.(`${url}: ${err.message}; retrying in ${(wait / 1000).toFixed(1)} s`);
      await sleep(Math.min(wait, options.backoffCapMs ?? DEFAULT_BACKOFF.capMs), options.signal);
    }
  }
}

function abortedError(url: string): PackdebugError {
  return new PackdebugError('E_NETWORK', `${url}: request cancelled`, { file: url });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
const MAX_REDIRECTS = 5;

/** One GET, following redirects; the response with its body not read yet. */
async function open(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  let current = url;
  for (let redirects = 0; ; redirects++) {
    const u = new URL(current);
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new PackdebugError('E_NOT_FOUND', `${url}: redirected to ${current}, not http(s)`, { file: url });
    const mod = u.protocol === 'https:' ? https : http;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = mod.get(u, { headers, signal, agent: agents[u.protocol as 'http:' | 'https:'] }, resolve);
      req.on('error', reject);
    });
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(status) || !location) {
      (res as IncomingMessage & { finalUrl?: string }).finalUrl = current;
      return res;
    }
    res.resume();
    if (redirects >= MAX_REDIRECTS)
      throw new PackdebugError('E_NOT_FOUND', `${url}: more than ${MAX_REDIRECTS} redirects`, { file: url });
    current = new URL(location, current).href;
  }
}

async function attemptGet(url: string, request: HttpRequest, options: HttpOptions): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const maxBytes = request.maxBytes ?? DEFAULT_MAX_BYTES;
  const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'packdebug' };
  const range = request.range;
  if (range) headers.range = rangeHeader(range);
  let res: IncomingMessage;
  try {
    res = await open(url, headers, signal);
  } catch (err) {
    if (err instanceof PackdebugError) throw err;
    if (options.signal?.aborted) throw abortedError(url);
    throw new TransportError(timeout.aborted ? 'timed out' : networkReason(err));
  }
  const status = res.statusCode ?? 0;
  const drop = () => res.destroy();
  if (status === 401 || status === 403) {
    drop();
    throw new PackdebugError(
      'E_AUTH',
      `${serverOf(url)} refused access (HTTP ${status}): credentials needed for ${url}`,
      {
        file: url,
      },
    );
  }
  if (status >= 500 || status === 429 || status === 408) {
    drop();
    const retryAfter = status === 429 || status === 503 ? retryAfterMs(header(res.headers, 'retry-after')) : undefined;
    throw new TransportError(`HTTP ${status}`, retryAfter);
  }
  if (status === 416 && range) {
    drop();
    throw new PackdebugError(
      'E_CHANGED',
      `${url}: ${headers.range} is past its end (HTTP 416): the file changed or is shorter than expected`,
      { file: url },
    );
  }
  if (status >= 400) {
    drop();
    throw new PackdebugError('E_NOT_FOUND', `${url}: not found (HTTP ${status})`, { file: url });
  }
  if (status !== 200 && status !== 206) {
    drop();
    throw new TransportError(`unexpected HTTP ${status}`);
  }
  const declared = header(res.headers, 'content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    drop();
    throw new PackdebugError(
      'E_FORMAT',
      `${url}: the server sends ${declared} bytes, more than the ${maxBytes} expected`,
      {
        file: url,
      },
    );
  }
  let body: Buffer;
  let written: number;
  try {
    ({ body, written } = await readBody(res, maxBytes, url, request.into));
  } catch (err) {
    if (err instanceof PackdebugError) throw err;
    if (options.signal?.aborted) throw abortedError(url);
    throw new TransportError(
      timeout.aborted ? 'timed out while reading the body' : `body cut short: ${networkReason(err)}`,
    );
  }
  if (declared !== null && written !== Number(declared))
    throw new TransportError(`body cut short (${written} of ${declared} bytes)`);
  const finalUrl = (res as IncomingMessage & { finalUrl?: string }).finalUrl ?? url;
  const out: HttpResponse = { url: finalUrl, body, ignoredRange: false, headers: res.headers, written };
  if (status === 206) {
    const cr = parseContentRange(header(res.headers, 'content-range'));
    const want = range && cr ? expectedSpan(range, cr.total) : undefined;
    if (!want || !cr || cr.start !== want.start || cr.end !== want.end - 1 || body.length !== want.end - want.start) {
      throw new PackdebugError(
        'E_FORMAT',
        `${url}: asked for ${headers.range ?? 'the whole file'}, got ` +
          `${header(res.headers, 'content-range') ?? 'no Content-Range'} with ${body.length} bytes of body`,
        { file: url },
      );
    }
    out.total = cr.total;
    return out;
  }
  out.total = body.length;
  if (range) {
    out.ignoredRange = true;
    out.whole = body;
    const { start, end } = expectedSpan(range, body.length);
    out.body = body.subarray(start, end);
  }
  return out;
}

function header(headers: IncomingHttpHeaders, name: string): string | null {
  const v = headers[name];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
}

function rangeHeader(range: NonNullable<HttpRequest['range']>): string {
  if ('suffix' in range) {
    if (!(Number.isSafeInteger(range.suffix) && range.suffix > 0)) throw new RangeError(`bad suffix ${range.suffix}`);
    return `bytes=-${range.suffix}`;
  }
  if (!(
    Number.isSafeInteger(range.start) &&
    Number.isSafeInteger(range.end) &&
    range.end > range.start &&
    range.start >= 0
  ))
    throw new RangeError(`bad range ${range.start}-${range.end}`);
  return `bytes=${range.start}-${range.end - 1}`;
}

/** The bytes [start, end) a range means in a resource of `total` bytes. */
function expectedSpan(range: NonNullable<HttpRequest['range']>, total: number): { start: number; end: number } {
  if ('suffix' in range) return { start: Math.max(0, total - range.suffix), end: total };
  return { start: Math.min(range.start, total), end: Math.min(range.end, total) };
}

/** The body, at most `maxBytes`; a connection closed early is an error (a cut body). */
function readBody(
  res: IncomingMessage,
  maxBytes: number,
  url: string,
  into?: FileHandle,
): Promise<{ body: Buffer; written: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let writing = Promise.resolve();
    let failed = false;
    const fail = (err: unknown) => {
      failed = true;
      res.destroy();
      reject(err);
    };
    res.on('data', (chunk: Buffer) => {
      const at = n;
      n += chunk.length;
      if (n > maxBytes) {
        fail(
          new PackdebugError('E_FORMAT', `${url}: the body is larger than the ${maxBytes} bytes expected`, {
            file: url,
          }),
        );
        return;
      }
      if (!into) {
        chunks.push(chunk);
        return;
      }
      // Into the file, one chunk at a time: the socket waits while the disk does.
      res.pause();
      writing = writing
        .then(async () => {
          let done = 0;
          while (done < chunk.length)
            done += (await into.write(chunk, done, chunk.length - done, at + done)).bytesWritten;
          if (!failed) res.resume();
        })
        .catch(fail);
    });
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('connection closed')));
    res.on('end', () => {
      if (!res.complete) return reject(new Error('connection closed'));
      void writing.then(() => {
        if (failed) return;
        resolve({ body: into ? Buffer.alloc(0) : Buffer.concat(chunks, n), written: n });
      });
    });
  });
}

/** `bytes START-END/TOTAL`, or undefined. */
export function parseContentRange(value: string | null): { start: number; end: number; total: number } | undefined {
  const m = value === null ? null : /^bytes ([0-9]{1,15})-([0-9]{1,15})\/([0-9]{1,15})$/.exec(value.trim());
  if (!m) return undefined;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return start <= end && end < total ? { start, end, total } : undefined;
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}

/**
 * Asks every source at once (seed 000's federation): the first answer
 * wins and the others are cancelled. When all fail: not found if any said
 * so, else an authentication error if any gave one, else the first error.
 */
export async function firstAnswer<T>(attempts: ((signal: AbortSignal) => Promise<T>)[]): Promise<T> {
  if (attempts.length === 0) throw new Error('firstAnswer: no sources');
  const controller = new AbortController();
  const errors: unknown[] = new Array(attempts.length);
  try {
    return await new Promise<T>((resolve, reject) => {
      let left = attempts.length;
      attempts.forEach((attempt, i) => {
        attempt(controller.signal).then(resolve, (err: unknown) => {
          errors[i] = err;
          if (--left === 0) reject(pickError(errors));
        });
      });
    });
  } finally {
    controller.abort();
  }
}

function pickError(errors: unknown[]): unknown {
  const coded = (code: string) => errors.find((e) => e instanceof PackdebugError && e.code === code);
  return coded('E_NOT_FOUND') ?? coded('E_AUTH') ?? errors[0];
}
