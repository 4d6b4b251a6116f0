/**
 * Capped exponential backoff with full jitter (as the Go client of seed 000
 * and AWS's analysis recommend): before retry n (1-based) wait a uniformly
 * random time in [0, min(cap, base * 2^(n-1))].
 */
export interface BackoffOptions {
  /** First ceiling, in ms. */
  baseMs: number;
  /** Largest ceiling, in ms. */
  capMs: number;
  /** Random source in [0, 1); tests pin it. */
  random?: () => number;
}

export function backoffDelay(retry: number, opts: BackoffOptions): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor((opts.random ?? Math.random)() * ceiling);
}

/** A Retry-After header (seconds or an HTTP date) in ms, if it has a usable value. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^[0-9]+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
