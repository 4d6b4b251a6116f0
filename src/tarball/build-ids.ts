/**
 * What a debuginfod server should serve from a set of tarballs: every GNU
 * build-id of a regular ELF member, as debuginfo and/or executable (the
 * classes debuginfod itself assigns), with the member's size and SHA-256
 * so that what a server returns can be compared with it.
 */
import { createHash } from 'node:crypto';
import type { TarEntry } from '../tar/parse.js';
import { JsonCache } from '../util/json-cache.js';
import type { BuildIdKind } from './elf-members.js';
import { inspectingVisitor, SecondLooks, type ElfMember } from './elf-members.js';
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
const ARTIFACTS_VERSION = 2;

interface CachedArtifacts {
  members: number;
  unservable: number;
  artifacts: ExpectedArtifact[];
}

/**
 * collectArtifacts with a cache (see util/json-cache.ts), trusted only while
 * the tarball is the same version of the same file: a nightly verify of a
 * whole tree reads only the tarballs that are new.
 */
export async function collectArtifactsCached(
  tarball: string,
  into: Map<string, ExpectedArtifact>,
  env: NodeJS.ProcessEnv,
): Promise<{ members: number; unservable: number; cached: boolean }> {
  const collect = async (): Promise<CachedArtifacts> => {
    const mine = new Map<string, ExpectedArtifact>();
    const counts = await collectArtifacts(tarball, mine);
    return { ...counts, artifacts: [...mine.values()] };
  };
  const cache = JsonCache.open<CachedArtifacts>('artifacts', ARTIFACTS_VERSION, env);
  const { value, cached } = cache ? await cache.through([tarball], collect) : { value: await collect(), cached: false };
  for (const a of value.artifacts) {
    const key = artifactKey(a.buildId, a.kind);
    // A record is found by the tarball's real path: its sources name the tarball as this run was given it.
    const sources = a.sources.map((s) => ({ ...s, tarball }));
    const known = into.get(key);
    if (known) known.sources.push(...sources);
    else into.set(key, { ...a, sources });
  }
  return { members: value.members, unservable: value.unservable, cached };
}
