/**
 * Remembers that a binpkg and its tarball were found to hold the same
 * members, or that a binpkg has no debug info, so that a later from-binpkg
 * run over a PKGDIR that only grew skips them without decompressing the
 * binpkg or decoding the tarball. A record is trusted only while the files
 * have exactly the path, size, mtime and inode they had (and, for "no debug
 * info", while no tarball exists); anything else means reading them again.
 * Lives beside the member index cache (PACKDEBUG_CACHE_DIR; empty: off).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { cacheDir } from '../tarball/member-index.js';
import { AtomicFile } from '../util/atomic.js';
import { type FileStamp, fileStamp as stamp, sameStamp as same } from '../util/file-stamp.js';

const VERSION = 1;

export type Verdict = 'up-to-date' | 'no-debug-info';

interface RecordBody {
  version: number;
  verdict: Verdict;
  binpkg: FileStamp;
  tarball?: FileStamp;
}

function recordPath(dir: string, binpkg: FileStamp, tarball: string): string {
  const key = createHash('sha256')
    .update(`${binpkg.path}\0${path.resolve(tarball)}`)
    .digest('hex')
    .slice(0, 32);
  return path.join(dir, `from-binpkg-v${VERSION}-${key}.json`);
}

/** The verdict recorded for this binpkg and tarball path, if it still holds. */
export async function knownVerdict(
  binpkg: string,
  tarball: string,
  env: NodeJS.ProcessEnv,
): Promise<Verdict | undefined> {
  const dir = cacheDir(env);
  if (!dir) return undefined;
  const [b, t] = await Promise.all([stamp(binpkg), stamp(tarball)]);
  if (!b) return undefined;
  try {
    const data = JSON.parse(await fs.readFile(recordPath(dir, b, tarball), 'utf8')) as RecordBody;
    if (data.version !== VERSION || !same(data.binpkg, b)) return undefined;
    if (data.verdict === 'up-to-date') return same(data.tarball, t) ? 'up-to-date' : undefined;
    return data.verdict === 'no-debug-info' && t === undefined ? 'no-debug-info' : undefined;
  } catch {
    return undefined;
  }
}

/** Records a verdict; the cache is an optimisation, so failures are ignored. */
export async function rememberVerdict(
  verdict: Verdict,
  binpkg: string,
  tarball: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const dir = cacheDir(env);
  if (!dir) return;
  try {
    const [b, t] = await Promise.all([stamp(binpkg), stamp(tarball)]);
    if (!b || (verdict === 'up-to-date' && !t)) return;
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const file = await AtomicFile.create(recordPath(dir, b, tarball), { mode: 0o600 });
    try {
      const body: RecordBody = { version: VERSION, verdict, binpkg: b, tarball: t };
      await file.fh.writeFile(JSON.stringify(body));
      await file.commit();
    } finally {
      await file.abort();
    }
  } catch {
    // no record then
  }
}
