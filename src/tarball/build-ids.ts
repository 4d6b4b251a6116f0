/**
 * What a debuginfod server should serve from a set of tarballs: every GNU
 * build-id of a regular ELF member, as debuginfo and/or executable (the
 * classes debuginfod itself assigns), with the member's size and SHA-256
 * so that what a server returns can be compared with it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TarEntry } from '../tar/parse.js';
import { AtomicFile } from '../util/atomic.js';
import { type FileStamp, fileStamp, sameStamp } from '../util/file-stamp.js';
import type { BuildIdKind } from './elf-members.js';
import { inspectingVisitor, SecondLooks, type ElfMember } from './elf-members.js';
import { cacheDir } from './member-index.js';
import { TarballReader } from './reader.js';

export interface ExpectedArtifact {
  buildId: string;
  kind: BuildIdKind;
  /** Every member that carries it (hardlinks excluded: they have no data of their own). */
  sources: { tarball: string; member: string; size: number; sha256: string }[];
}

/** Key of an artifact: `ID/kind`. */
export const artifactKey = (buildId: string, kind: BuildIdKind) => `${buildId}/${kind}`;

/**
 * Reads each tarball once (sequentially, through xz(1) when there is one)
 * and adds its artifacts to `into`. Members with a GNU build-id that
 * debuginfod would not index (neither class) are counted in `unservable`.
 */
export async function collectArtifacts(
  tarball: string,
  into: Map<string, ExpectedArtifact>,
): Promise<{ members: number; unservable: number }> {
  const reader = await TarballReader.open(tarball);
  let members = 0;
  let unservable = 0;
  let hash: ReturnType<typeof createHash> | undefined;
  let digest: string | undefined;
  // inspectingVisitor reports an ELF member before the inner entryEnd: digest on first use.
  const memberDigest = () => (digest ??= hash?.digest('hex') ?? '');
  // Members left for a second look (see SecondLooks) are reported after the scan, with the digest kept here.
  const later = new SecondLooks();
  const laterDigests = new Map<TarEntry, string>();
  const record = ({ entry, elf }: ElfMember, sha256: () => string) => {
    if (!elf.gnuBuildId) return;
    const kinds: BuildIdKind[] = [];
    if (elf.debuginfo) kinds.push('debuginfo');
    if (elf.executable) kinds.push('executable');
    if (kinds.length === 0) unservable++;
    for (const kind of kinds) {
      const key = artifactKey(elf.gnuBuildId, kind);
      let a = into.get(key);
      if (!a) into.set(key, (a = { buildId: elf.gnuBuildId, kind, sources: [] }));
      a.sources.push({ tarball, member: entry.path, size: entry.size, sha256: sha256() });
    }
  };
  try {
    await reader.scan(
      inspectingVisitor(
        (m) => record(m, memberDigest),
        {
          entry(e) {
            members++;
            hash = e.type === '0' || e.type === '7' ? createHash('sha256') : undefined;
            digest = undefined;
          },
          data(_e, chunk) {
            hash?.update(chunk);
          },
          entryEnd(e) {
            if (later.has(e)) laterDigests.set(e, memberDigest());
            hash = undefined;
          },
        },
        later,
      ),
    );
    await later.complete(reader.ra, (m) => record(m, () => laterDigests.get(m.entry) ?? ''));
  } finally {
    await reader.close();
  }
  return { members, unservable };
}

/** 2: ELF members with a note the scan had passed were left out. */
const CACHE_VERSION = 2;

interface CachedArtifacts {
  version: number;
  stamp: FileStamp;
  members: number;
  unservable: number;
  artifacts: ExpectedArtifact[];
}

/**
 * collectArtifacts with a cache in PACKDEBUG_CACHE_DIR (empty: off), trusted
 * only while the tarball keeps its path, size, mtime and inode: a nightly
 * verify of a whole tree reads only the tarballs that are new.
 */
export async function collectArtifactsCached(
  tarball: string,
  into: Map<string, ExpectedArtifact>,
  env: NodeJS.ProcessEnv,
): Promise<{ members: number; unservable: number; cached: boolean }> {
  const dir = cacheDir(env);
  const stamp = dir ? await fileStamp(tarball) : undefined;
  const file =
    dir && stamp
      ? path.join(
          dir,
          `artifacts-v${CACHE_VERSION}-${createHash('sha256').update(stamp.path).digest('hex').slice(0, 32)}.json`,
        )
      : undefined;
  if (file) {
    try {
      const data = JSON.parse(await fs.readFile(file, 'utf8')) as CachedArtifacts;
      if (data.version === CACHE_VERSION && sameStamp(data.stamp, stamp)) {
        for (const a of data.artifacts) {
          const key = artifactKey(a.buildId, a.kind);
          const known = into.get(key);
          const sources = a.sources.map((s) => ({ ...s, tarball }));
          if (known) known.sources.push(...sources);
          else into.set(key, { ...a, sources });
        }
        return { members: data.members, unservable: data.unservable, cached: true };
      }
    } catch {
      // no usable record: read the tarball
    }
  }
  const mine = new Map<string, ExpectedArtifact>();
  const counts = await collectArtifacts(tarball, mine);
  for (const [key, a] of mine) {
    const known = into.get(key);
    if (known) known.sources.push(...a.sources);
    else into.set(key, { ...a, sources: [...a.sources] });
  }
  if (file && stamp && sameStamp(stamp, await fileStamp(tarball))) {
    try {
      await fs.mkdir(dir!, { recursive: true, mode: 0o700 });
      const out = await AtomicFile.create(file, { mode: 0o600 });
      try {
        const body: CachedArtifacts = { version: CACHE_VERSION, stamp, ...counts, artifacts: [...mine.values()] };
        await out.fh.writeFile(JSON.stringify(body));
        await out.commit();
      } finally {
        await out.abort();
      }
    } catch {
      // the cache is an optimisation
    }
  }
  return { ...counts, cached: false };
}
