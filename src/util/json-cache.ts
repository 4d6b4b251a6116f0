/**
 * packdebug's cache: JSON records about files (a tarball's member index,
 * its build-ids, a binpkg's from-binpkg verdict), each trusted only while
 * every file it is about is the same version of the same file it was made
 * from (util/file-stamp.ts), or still absent if it was absent then. The
 * cache is an optimisation: a record that cannot be read or written is a
 * miss, never an error.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AtomicFile } from './atomic.js';
import { type FileStamp, fileStamp, sameStamp } from './file-stamp.js';

/**
 * Where the cache lives: PACKDEBUG_CACHE_DIR, else $XDG_CACHE_HOME/packdebug,
 * else ~/.cache/packdebug. An empty PACKDEBUG_CACHE_DIR turns the cache off.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env['PACKDEBUG_CACHE_DIR'];
  if (explicit !== undefined) return explicit === '' ? undefined : explicit;
  const base = env['XDG_CACHE_HOME'] || path.join(env['HOME'] || os.homedir(), '.cache');
  return path.join(base, 'packdebug');
}

/** The stamps of some files, in order; undefined for a file that is absent. */
export type FileStamps = (FileStamp | undefined)[];

/**
 * A record on disk: `version`, `files` and `stamps`, then the body's own
 * fields (which must not use those three names). Records of the layout
 * before this one (a single `path` and stamp fields) have no `files` and
 * are refused, as the code of that time refuses these (no `path`).
 */
type CacheRecord = { version: number; files: string[]; stamps: (FileStamp | null)[] } & Record<string, unknown>;

/**
 * One kind of record: files `NAME-vVERSION-HASH.json` in the cache
 * directory, HASH naming the files the record is about. Bump VERSION
 * whenever what a record says changes.
 */
export class JsonCache<T extends object> {
  private constructor(
    readonly dir: string,
    readonly name: string,
    readonly version: number,
  ) {}

  /** The cache for records `name`-v`version`; undefined when the cache is off. */
  static open<T extends object>(name: string, version: number, env?: NodeJS.ProcessEnv): JsonCache<T> | undefined {
    const dir = cacheDir(env);
    return dir === undefined ? undefined : new JsonCache<T>(dir, name, version);
  }

  /** The stamps of `files` now (undefined: absent), to compare with later. */
  static stamps(files: readonly string[]): Promise<FileStamps> {
    return Promise.all(files.map(fileStamp));
  }

  /**
   * The record about `files`, if there is one of this version and each file
   * is as it was then (`now`: their stamps, if the caller has just taken them).
   */
  async read(files: readonly string[], now?: FileStamps): Promise<T | undefined> {
    try {
      const [keys, stamps] = await Promise.all([keyPaths(files), now ?? JsonCache.stamps(files)]);
      const data = JSON.parse(await fs.readFile(this.#file(keys), 'utf8')) as CacheRecord;
      const { version, files: recorded, stamps: was, ...body } = data;
      if (version !== this.version || !Array.isArray(recorded) || !Array.isArray(was)) return undefined;
      if (recorded.length !== keys.length || was.length !== keys.length) return undefined;
      const unchanged = keys.every((key, i) => recorded[i] === key && sameOrBothAbsent(was[i] ?? undefined, stamps[i]));
      return unchanged ? (body as T) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Records `body` about `files`. With `before` (their stamps taken before
   * `body` was worked out), nothing is written when a file changed since:
   * the record would describe a version of it that is gone.
   */
  async write(files: readonly string[], body: T, before?: FileStamps): Promise<void> {
    try {
      const [keys, stamps] = await Promise.all([keyPaths(files), JsonCache.stamps(files)]);
      if (before && !stamps.every((s, i) => sameOrBothAbsent(s, before[i]))) return;
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      const record = { version: this.version, files: keys, stamps: stamps.map((s) => s ?? null), ...body };
      await AtomicFile.write(this.#file(keys), JSON.stringify(record), { mode: 0o600 });
    } catch {
      // no record then
    }
  }

  /** The record about `files`, else `compute()`, recorded unless a file changed meanwhile. */
  async through(files: readonly string[], compute: () => Promise<T>): Promise<{ value: T; cached: boolean }> {
    const before = await JsonCache.stamps(files);
    const known = await this.read(files, before);
    if (known !== undefined) return { value: known, cached: true };
    const value = await compute();
    await this.write(files, value, before);
    return { value, cached: false };
  }

  #file(keys: readonly string[]): string {
    const hash = createHash('sha256').update(keys.join('\0')).digest('hex').slice(0, 32);
    return path.join(this.dir, `${this.name}-v${this.version}-${hash}.json`);
  }
}

function sameOrBothAbsent(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  return a === undefined || b === undefined ? a === b : sameStamp(a, b);
}

/** A file's real path, or (absent) its resolved path. */
function keyPaths(files: readonly string[]): Promise<string[]> {
  return Promise.all(files.map((f) => fs.realpath(f).catch(() => path.resolve(f))));
}
