import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TarEntry, TarVisitor } from '../tar/parse.js';
import { AtomicFile } from '../util/atomic.js';
import type { XzRandomAccess } from '../xz/random-access.js';
import type { ElfAtOptions } from './elf-at.js';
import { inspectingVisitor, SecondLooks, type ElfMember } from './elf-members.js';

/** One member as the index remembers it: enough to read it back without a scan. */
export interface IndexedMember {
  entry: TarEntry;
  buildId?: string;
  /** Set for ELF files (debuginfod's classes; both false without a GNU build-id). */
  debuginfo?: boolean;
  executable?: boolean;
  goBuildIdOnly?: boolean;
  /** An ELF file whose GNU build-id could not be determined (reads it would take were too large). */
  buildIdUnknown?: boolean;
}

/**
 * What building an index needs of a TarballReader. Named here rather than
 * imported, because reader.ts loads this module (no import cycle).
 */
export interface ScannableTarball {
  readonly ra: XzRandomAccess;
  scan(visitor: TarVisitor): Promise<void>;
}

/**
 * Reads every header (and inspects every ELF file) in one sequential pass;
 * ELF files the pass could not decide (a note far from both ends of a large
 * file) are then read where their notes are, by random access.
 */
export async function buildMemberIndex(reader: ScannableTarball, elfAt?: ElfAtOptions): Promise<IndexedMember[]> {
  const members: IndexedMember[] = [];
  const byEntry = new Map<TarEntry, IndexedMember>();
  const onElf = ({ entry, elf }: ElfMember) => {
    const m = byEntry.get(entry)!;
    Object.assign(m, { debuginfo: elf.debuginfo, executable: elf.executable });
    if (elf.gnuBuildId) m.buildId = elf.gnuBuildId;
    else if (elf.incomplete !== undefined) m.buildIdUnknown = true;
    else if (elf.goBuildId) m.goBuildIdOnly = true;
  };
  const later = new SecondLooks();
  await reader.scan(
    inspectingVisitor(
      onElf,
      {
        entry(e) {
          const m: IndexedMember = { entry: e };
          members.push(m);
          byEntry.set(e, m);
        },
      },
      later,
    ),
  );
  await later.complete(reader.ra, onElf, undefined, elfAt);
  return members;
}

/** 2: ELF members with a note the scan had passed were cached as having no build-id. */
const VERSION = 2;

interface CacheFile {
  version: number;
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  members: IndexedMember[];
}

/**
 * Where member indexes are cached: PACKDEBUG_CACHE_DIR, else
 * $XDG_CACHE_HOME/packdebug, else ~/.cache/packdebug. An empty
 * PACKDEBUG_CACHE_DIR turns the cache off.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env['PACKDEBUG_CACHE_DIR'];
  if (explicit !== undefined) return explicit === '' ? undefined : explicit;
  const base = env['XDG_CACHE_HOME'] || path.join(env['HOME'] || os.homedir(), '.cache');
  return path.join(base, 'packdebug');
}

function cacheFile(dir: string, realPath: string): string {
  return path.join(dir, `index-v${VERSION}-${createHash('sha256').update(realPath).digest('hex').slice(0, 32)}.json`);
}

/**
 * A cached index of a tarball, trusted only when the tarball's path, size,
 * mtime and inode are exactly those it was made from.
 */
export async function loadCachedIndex(tarball: string, env?: NodeJS.ProcessEnv): Promise<IndexedMember[] | undefined> {
  const dir = cacheDir(env);
  if (!dir) return undefined;
  try {
    const real = await fs.realpath(tarball);
    const st = await fs.stat(real);
    const data = JSON.parse(await fs.readFile(cacheFile(dir, real), 'utf8')) as CacheFile;
    if (
      data.version !== VERSION ||
      data.path !== real ||
      data.size !== st.size ||
      data.mtimeMs !== st.mtimeMs ||
      data.ino !== st.ino
    )
      return undefined;
    return data.members;
  } catch {
    return undefined;
  }
}

/** Saves an index; the cache is an optimisation, so failures are ignored. */
export async function saveCachedIndex(
  tarball: string,
  members: IndexedMember[],
  env?: NodeJS.ProcessEnv,
): Promise<void> {
  const dir = cacheDir(env);
  if (!dir) return;
  try {
    const real = await fs.realpath(tarball);
    const st = await fs.stat(real);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const file = await AtomicFile.create(cacheFile(dir, real), { mode: 0o600 });
    try {
      const body: CacheFile = {
        version: VERSION,
        path: real,
        size: st.size,
        mtimeMs: st.mtimeMs,
        ino: st.ino,
        members,
      };
      await file.fh.writeFile(JSON.stringify(body));
      await file.commit();
    } finally {
      await file.abort();
    }
  } catch {
    // no cache then
  }
}
