/**
 * HTTP GETs as the Go debuginfod client of seed 000 treats them: 404 and
 * 410 (and any other 4xx but 401 and 403) mean not found; 401 and 403 are
 * an authentication error naming the server; network errors, timeouts, a
 * body cut short, 5xx and 429 are transport errors, retried with capped
 * exponential backoff (full jitter, Retry-After honoured) within a bound.
 *
 * Node's built-in fetch (undici) is used: it follows redirects, keeps
 * connections alive between the few requests of a lookup, and needs no
 * dependency; a library would add retries, which are the part whose
 * semantics are prescribed here anyway.
 */
import { PackdebugError } from '../errors.js';
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
  headers: Headers;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 3;
const DEFAULT_MAX_BYTES = 1 << 30;

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
        backoffDelay(attempt + 1, { baseMs: options.backoffBaseMs ?? 250, capMs: options.backoffCapMs ?? 4000 });
      options.log?.(`${url}: ${err.message}; retrying in ${(wait / 1000).toFixed(1)} s`);
      await sleep(Math.min(wait, options.backoffCapMs ?? 4000), options.signal);
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

async function attemptGet(url: string, request: HttpRequest, options: HttpOptions): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const maxBytes = request.maxBytes ?? DEFAULT_MAX_BYTES;
  const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'packdebug' };
  const range = request.range;
  if (range) headers.range = rangeHeader(range);
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow', signal });
  } catch (err) {
    if (options.signal?.aborted) throw abortedError(url);
    throw new TransportError(timeout.aborted ? 'timed out' : networkReason(err));
  }
  const status = res.status;
  if (status === 401 || status === 403) {
    await res.body?.cancel().catch(() => undefined);
    throw new PackdebugError(
      'E_AUTH',
      `${serverOf(url)} refused access (HTTP ${status}): credentials needed for ${url}`,
      { file: url },
    );
  }
  if (status >= 500 || status === 429 || status === 408) {
    await res.body?.cancel().catch(() => undefined);
    throw new TransportError(
      `HTTP ${status}`,
      status === 429 || status === 503 ? retryAfterMs(res.headers.get('retry-after')) : undefined,
    );
  }
  if (status === 416 && range) {
    await res.body?.cancel().catch(() => undefined);
    throw new PackdebugError(
      'E_CHANGED',
      `${url}: ${headers.range} is past its end (HTTP 416): the file changed or is shorter than expected`,
      { file: url },
    );
  }
  if (status >= 400) {
    await res.body?.cancel().catch(() => undefined);
    throw new PackdebugError('E_NOT_FOUND', `${url}: not found (HTTP ${status})`, { file: url });
  }
  if (status !== 200 && status !== 206) {
    await res.body?.cancel().catch(() => undefined);
    throw new TransportError(`unexpected HTTP ${status}`);
  }
  const declared = res.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new PackdebugError(
      'E_FORMAT',
      `${url}: the server sends ${declared} bytes, more than the ${maxBytes} expected`,
      {
        file: url,
      },
    );
  }
  let body: Buffer;
  try {
    body = await readBody(res, maxBytes, url);
  } catch (err) {
    if (err instanceof PackdebugError) throw err;
    if (options.signal?.aborted) throw abortedError(url);
    throw new TransportError(
      timeout.aborted ? 'timed out while reading the body' : `body cut short: ${networkReason(err)}`,
    );
  }
  if (declared !== null && body.length !== Number(declared))
    throw new TransportError(`body cut short (${body.length} of ${declared} bytes)`);
  const out: HttpResponse = { url: res.url || url, body, ignoredRange: false, headers: res.headers };
  if (status === 206) {
    const cr = parseContentRange(res.headers.get('content-range'));
    const want = range && cr ? expectedSpan(range, cr.total) : undefined;
    if (!want || !cr || cr.start !== want.start || cr.end !== want.end - 1 || body.length !== want.end - want.start) {
      throw new PackdebugError(
        'E_FORMAT',
        `${url}: asked for ${headers.range ?? 'the whole file'}, got ` +
          `${res.headers.get('content-range') ?? 'no Content-Range'} with ${body.length} bytes of body`,
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

async function readBody(res: Response, maxBytes: number, url: string): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += chunk.length;
    if (n > maxBytes) {
      await res.body.cancel().catch(() => undefined);
      throw new PackdebugError('E_FORMAT', `${url}: the body is larger than the ${maxBytes} bytes expected`, {
        file: url,
      });
    }
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, n);
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
