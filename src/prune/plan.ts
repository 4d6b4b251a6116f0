/**
 * Retention for one CATEGORY/PN directory of tarballs: which builds to
 * keep and which to delete. Pure: the caller supplies the tarballs, what
 * protects them and the clock.
 *
 * Newest means highest PMS version, then highest BUILD_ID (BUILD_IDs count
 * per version, so they alone do not order builds of different versions;
 * mtimes change when a tarball is repacked).
 */
import type { TarballName } from '../portage/naming.js';
import { compareVersions } from '../portage/version.js';
import type { FileStamp } from '../util/file-stamp.js';

/** A tarball as planned on: its stamp is what it must still be right before it is deleted. */
export interface PruneCandidate extends FileStamp {
  path: string;
  rel: string;
  name: TarballName;
}

export type KeepReason = 'newest' | 'binpkg' | 'installed' | 'recent';

export interface PrunePolicy {
  /** Newest builds kept per CATEGORY/PN. */
  keep: number;
  /** With --older-than: only tarballs modified before this time (ms since the epoch) are deleted. */
  olderThanMs?: number;
  /** Says why a tarball must stay (its binpkg exists, its build is installed), or undefined. */
  protects?: (c: PruneCandidate) => KeepReason | undefined;
}

export interface PrunePlan {
  keep: { candidate: PruneCandidate; reason: KeepReason }[];
  remove: PruneCandidate[];
}

/** Newest first. */
export function compareBuilds(a: TarballName, b: TarballName): number {
  const v = compareVersions(b.version, a.version);
  if (v !== 0) return v;
  const x = BigInt(a.buildNumber);
  const y = BigInt(b.buildNumber);
  return x < y ? 1 : x > y ? -1 : 0;
}

export function planGroup(candidates: readonly PruneCandidate[], policy: PrunePolicy): PrunePlan {
  const sorted = [...candidates].sort((a, b) => compareBuilds(a.name, b.name) || (a.rel < b.rel ? -1 : 1));
  const plan: PrunePlan = { keep: [], remove: [] };
  sorted.forEach((c, i) => {
    const reason: KeepReason | undefined =
      i < policy.keep
        ? 'newest'
        : (policy.protects?.(c) ??
          (policy.olderThanMs !== undefined && c.mtimeMs >= policy.olderThanMs ? 'recent' : undefined));
    if (reason) plan.keep.push({ candidate: c, reason });
    else plan.remove.push(c);
  });
  return plan;
}
