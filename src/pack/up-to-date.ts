/**
 * Remembers that a binpkg and its tarball were found to hold the same
 * members, or that a binpkg has no debug info, so that a later from-binpkg
 * run over a PKGDIR that only grew skips them without decompressing the
 * binpkg or decoding the tarball. A record (util/json-cache.ts) is trusted
 * only while both files are the same versions of the same files they were
 * (for "no debug info": while no tarball exists); anything else means
 * reading them again.
 */
import { JsonCache } from '../util/json-cache.js';

/** Records named `from-binpkg-v1-*` before json-cache.ts too; that layout has no `files` and is refused. */
const VERDICT_VERSION = 1;

export type Verdict = 'up-to-date' | 'no-debug-info';

const verdicts = (env: NodeJS.ProcessEnv) => JsonCache.open<{ verdict: Verdict }>('from-binpkg', VERDICT_VERSION, env);

/** The verdict recorded for this binpkg and tarball path, if it still holds. */
export async function knownVerdict(
  binpkg: string,
  tarball: string,
  env: NodeJS.ProcessEnv,
): Promise<Verdict | undefined> {
  const cache = verdicts(env);
  if (!cache) return undefined;
  const now = await JsonCache.stamps([binpkg, tarball]);
  if (!now[0]) return undefined;
  const verdict = (await cache.read([binpkg, tarball], now))?.verdict;
  // The record's stamps matched, so the tarball exists now exactly when it existed then.
  if (verdict === 'up-to-date') return now[1] ? verdict : undefined;
  return verdict === 'no-debug-info' && !now[1] ? verdict : undefined;
}

/** Records a verdict; the cache is an optimisation, so failures are ignored. */
export async function rememberVerdict(
  verdict: Verdict,
  binpkg: string,
  tarball: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const cache = verdicts(env);
  if (!cache) return;
  const now = await JsonCache.stamps([binpkg, tarball]);
  if (!now[0] || (verdict === 'up-to-date' && !now[1])) return;
  await cache.write([binpkg, tarball], { verdict }, now);
}
