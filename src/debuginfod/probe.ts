/**
 * Asks one debuginfod server whether it serves one artifact, over the
 * debuginfod HTTP protocol (`GET /buildid/ID/debuginfo|executable`; a
 * `file://` server is a local directory of that layout), with the status
 * semantics of seed 000's client:
 *
 * - a 2xx body is success (with `deep`, its SHA-256 must match the tarball's member);
 * - 404 and 410 are an authoritative "not here" for this server, as is any
 *   other 4xx (folded into not-found, like the Go client does);
 * - 401 and 403 mean credentials are needed;
 * - 5xx, 429 and transport errors are retried with capped exponential
 *   backoff and full jitter (a Retry-After header is honoured up to the cap);
 * - the caller's signal is the total deadline.
 *
 * GET, not HEAD: debuginfod 0.188 answers HEAD with 400 (checked against
 * Debian's server). Without `deep` the body is not read: the response
 * headers are enough, and the body stream is cancelled at once. With
 * `deep` the body is read up to one byte past the largest expected size
 * (more is a mismatch, whatever follows), and a body that brings fewer than
 * BODY_LOW_SPEED_BYTES in a window of `bodyTimeoutMs` (stalled or
 * trickling) is abandoned like an attempt without an answer, as curl's
 * low-speed limit does for debuginfod's own client.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type BackoffOptions, backoffDelay, retryAfterMs } from '../http/backoff.js';

export type ArtifactKind = 'debuginfo' | 'executable';
export type ProbeOutcome = 'served' | 'mismatch' | 'missing' | 'auth' | 'error';

export interface ProbeResult {
  outcome: ProbeOutcome;
  /** HTTP status of the last answer, when there was one. */
  status?: number;
  attempts: number;
  /** Why, for anything but 'served': `HTTP 503`, `connection refused`, `deadline exceeded`, ... */
  detail?: string;
  /** X-DEBUGINFOD-SIZE or Content-Length of a served artifact. */
  size?: number;
}

export interface ProbeOptions {
  /** Retries after the first attempt (5xx, 429, transport errors). */
  retries: number;
  backoff: BackoffOptions;
  /** Time allowed for one attempt's response headers, in ms. */
  attemptTimeoutMs: number;
  /** Aborts everything: the total deadline. */
  signal: AbortSignal;
  /** With `deep`: SHA-256 digests the body may have (the tarball members with this build-id). */
  expectSha256?: ReadonlySet<string>;
  /** With `deep`: the largest of those members' sizes; the body is not read further than one byte past it. */
  expectMaxSize?: number;
  /** With `deep`: a window in ms in which the body must bring BODY_LOW_SPEED_BYTES (or end). Default 30 s. */
  bodyTimeoutMs?: number;
  userAgent?: string;
}

/** What a body must bring in each window of `bodyTimeoutMs` (curl's CURLOPT_LOW_SPEED_LIMIT, per window). */
export const BODY_LOW_SPEED_BYTES = 1024;
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

function transportReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'no answer in time';
  const code = e?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  return e?.cause?.message ?? e?.message ?? String(err);
}

export function artifactUrl(server: string, buildId: string, kind: ArtifactKind): string {
  return `${server.replace(/\/+$/, '')}/buildid/${buildId}/${kind}`;
}

/**
 * A `file://` server (a directory the client reads through curl): the file
 * is there or not, nothing to retry. A symlink is followed, as curl does.
 */
async function probeLocal(url: string, opts: ProbeOptions): Promise<ProbeResult> {
  const file = fileURLToPath(url);
  const st = await fs.stat(file).catch((err: NodeJS.ErrnoException) => err);
  if (st instanceof Error) {
    if (st.code === 'ENOENT' || st.code === 'ENOTDIR')
      return { outcome: 'missing', attempts: 1, detail: 'no such file' };
    return {
      outcome: st.code === 'EACCES' ? 'auth' : 'error',
      attempts: 1,
      detail: `${file}: ${st.code ?? st.message}`,
    };
  }
  if (!st.isFile()) return { outcome: 'missing', attempts: 1, detail: 'not a regular file' };
  if (opts.expectSha256 === undefined) return { outcome: 'served', attempts: 1, size: st.size };
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file, { signal: opts.signal })) hash.update(chunk as Buffer);
  } catch (err) {
    return {
      outcome: 'error',
      attempts: 1,
      detail: `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    };
  }
  if (opts.expectSha256.has(hash.digest('hex'))) return { outcome: 'served', attempts: 1, size: st.size };
  return {
    outcome: 'mismatch',
    attempts: 1,
    size: st.size,
    detail: `${st.size} bytes that differ from the tarball's member`,
  };
}

export async function probeArtifact(
  server: string,
  buildId: string,
  kind: ArtifactKind,
  opts: ProbeOptions,
): Promise<ProbeResult> {
  const url = artifactUrl(server, buildId, kind);
  if (url.startsWith('file:')) return probeLocal(url, opts);
  let last: ProbeResult = { outcome: 'error', attempts: 0, detail: 'not tried' };
  for (let attempt = 1; attempt <= opts.retries + 1; attempt++) {
    if (opts.signal.aborted)
      return {
        ...last,
        outcome: 'error',
        attempts: attempt - 1,
        detail: `deadline exceeded${last.detail && last.attempts > 0 ? ` (last: ${last.detail})` : ''}`,
      };
    // Ends this attempt: no headers in time, or later a body that stalls.
    const attemptAbort = new AbortController();
    let timer = setTimeout(
      () => attemptAbort.abort(new DOMException('no answer in time', 'TimeoutError')),
      opts.attemptTimeoutMs,
    );
    const signal = AbortSignal.any([opts.signal, attemptAbort.signal]);
    let retryAfter: number | undefined;
    let bodyStalled: string | undefined;
    try {
      const res = await fetch(url, {
        signal,
        redirect: 'follow',
        headers: { 'user-agent': opts.userAgent ?? 'packdebug-verify', 'accept-encoding': 'identity' },
      });
      clearTimeout(timer);
      const status = res.status;
      if (res.ok) {
        const sizeHeader = res.headers.get('x-debuginfod-size') ?? res.headers.get('content-length');
        const size = sizeHeader !== null && /^[0-9]+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
        if (opts.expectSha256 === undefined) {
          await res.body?.cancel().catch(() => undefined);
          return { outcome: 'served', status, attempts: attempt, size };
        }
        const hash = createHash('sha256');
        const limit = opts.expectMaxSize ?? Infinity;
        const windowMs = opts.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
        let bytes = 0;
        let windowStart = 0;
        const watch = () => {
          timer = setTimeout(() => {
            if (bytes - windowStart >= BODY_LOW_SPEED_BYTES) {
              windowStart = bytes;
              return watch();
            }
            bodyStalled = `body too slow: under ${BODY_LOW_SPEED_BYTES} bytes in ${windowMs / 1000} s (${bytes} read)`;
            attemptAbort.abort(new DOMException(bodyStalled, 'TimeoutError'));
          }, windowMs);
        };
        watch();
        try {
          for await (const chunk of res.body ?? []) {
            const piece = chunk as Uint8Array;
            // One byte past the largest expected size is enough to know it differs.
            const take = Math.min(piece.length, limit + 1 - bytes);
            hash.update(take === piece.length ? piece : piece.subarray(0, take));
            bytes += take;
            if (bytes > limit) break;
          }
        } finally {
          clearTimeout(timer);
        }
        if (bytes > limit) {
          return {
            outcome: 'mismatch',
            status,
            attempts: attempt,
            detail: `served more than the tarball member's ${limit} bytes (stopped reading)`,
          };
        }
        const sha = hash.digest('hex');
        if (opts.expectSha256.has(sha)) return { outcome: 'served', status, attempts: attempt, size: bytes };
        return {
          outcome: 'mismatch',
          status,
          attempts: attempt,
          size: bytes,
          detail: `served ${bytes} bytes that differ from the tarball's member`,
        };
      }
      await res.body?.cancel().catch(() => undefined);
      if (status === 401 || status === 403)
        return { outcome: 'auth', status, attempts: attempt, detail: `HTTP ${status}: credentials needed` };
      if (status === 429 || status >= 500) {
        last = { outcome: 'error', status, attempts: attempt, detail: `HTTP ${status}` };
        retryAfter = retryAfterMs(res.headers.get('retry-after'));
      } else {
        // 404 and 410 say "not here"; other answers are folded into that too (seed 000).
        return { outcome: 'missing', status, attempts: attempt, detail: `HTTP ${status}` };
      }
    } catch (err) {
      clearTimeout(timer);
      if (opts.signal.aborted) return { outcome: 'error', attempts: attempt, detail: 'deadline exceeded' };
      last = { outcome: 'error', attempts: attempt, detail: bodyStalled ?? transportReason(err) };
    }
    if (attempt <= opts.retries) {
      const jittered = backoffDelay(attempt, opts.backoff);
      await sleep(
        retryAfter === undefined ? jittered : Math.min(opts.backoff.capMs, Math.max(jittered, retryAfter)),
        opts.signal,
      );
    }
  }
  return { ...last, detail: `${last.detail} after ${last.attempts} attempt${last.attempts === 1 ? '' : 's'}` };
}
