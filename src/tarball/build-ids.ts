/**
 * What a debuginfod server should serve from a set of tarballs: every GNU
 * build-id of a regular ELF member, as debuginfo and/or executable (the
 * classes debuginfod itself assigns), with the member's size and SHA-256
 * so that what a server returns can be compared with it.
 */
import { createHash } from 'node:crypto';
import type { BuildIdKind } from './elf-members.js';
import { inspectingVisitor } from './elf-members.js';
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
export async function collectArtifacts(tarball: string, into: Map<string, ExpectedArtifact>): Promise<{ members: number; unservable: number }> {
  const reader = await TarballReader.open(tarball);
  let members = 0;
  let unservable = 0;
  let hash: ReturnType<typeof createHash> | undefined;
  let digest: string | undefined;
  // inspectingVisitor reports an ELF member before the inner entryEnd: digest on first use.
  const memberDigest = () => (digest ??= hash?.digest('hex') ?? '');
  try {
    await reader.scan(
      inspectingVisitor(
        ({ entry, elf }) => {
          if (!elf.gnuBuildId) return;
          const kinds: BuildIdKind[] = [];
          if (elf.debuginfo) kinds.push('debuginfo');
          if (elf.executable) kinds.push('executable');
          if (kinds.length === 0) unservable++;
          for (const kind of kinds) {
            const key = artifactKey(elf.gnuBuildId, kind);
            let a = into.get(key);
            if (!a) into.set(key, (a = { buildId: elf.gnuBuildId, kind, sources: [] }));
            a.sources.push({ tarball, member: entry.path, size: entry.size, sha256: memberDigest() });
          }
        },
        {
          entry(e) {
            members++;
            hash = e.type === '0' || e.type === '7' ? createHash('sha256') : undefined;
            digest = undefined;
          },
          data(_e, chunk) {
            hash?.update(chunk);
          },
          entryEnd() {
            hash = undefined;
          },
        },
      ),
    );
  } finally {
    await reader.close();
  }
  return { members, unservable };
}
