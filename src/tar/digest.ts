import { createHash, type Hash } from 'node:crypto';
import type { TarEntry, TarVisitor } from './parse.js';
import { isRegular, type MemberKind, memberKind } from './types.js';

/** What a member is, reduced to what matters for "same contents". */
export interface MemberDigest {
  /** Absolute form of the member name: `./usr/x/` and `usr/x` both become `/usr/x`. */
  path: string;
  type: MemberKind;
  size: number;
  mode: number;
  linkpath: string;
  /** SHA-256 of the content (regular files; hardlinks get their target's). */
  sha256: string;
}

/** SHA-256 of no bytes: the digest of an empty file. */
export const EMPTY_SHA256 = createHash('sha256').digest('hex');

export function canonicalPath(name: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  return `/${parts.join('/')}`;
}

/** A TarVisitor that collects digests of every member. */
export function digestCollector(): { visitor: TarVisitor; digests: MemberDigest[] } {
  const digests: MemberDigest[] = [];
  let hash: Hash | undefined;
  const visitor: TarVisitor = {
    entry(e: TarEntry) {
      hash = isRegular(e.type) ? createHash('sha256') : undefined;
    },
    data(_e, chunk) {
      hash?.update(chunk);
    },
    entryEnd(e) {
      const type = memberKind(e.type);
      digests.push({
        path: canonicalPath(e.path),
        type,
        size: e.size,
        mode: e.mode & 0o7777,
        linkpath: type === 'hardlink' ? canonicalPath(e.linkpath) : e.linkpath,
        sha256: hash ? hash.digest('hex') : '',
      });
      hash = undefined;
    },
  };
  return { visitor, digests };
}

/**
 * Differences between two member sets, ignoring order, mtimes and which of a
 * set of hardlinks is stored as the file (that depends on directory order).
 */
export function compareDigestSets(a: readonly MemberDigest[], b: readonly MemberDigest[], limit = 5): string[] {
  const resolve = (list: readonly MemberDigest[]) => {
    const byPath = new Map(list.map((d) => [d.path, d]));
    const out = new Map<string, string>();
    for (const d of list) {
      let content = d;
      if (d.type === 'hardlink') content = byPath.get(d.linkpath) ?? d;
      const type = content.type === 'file' ? 'file' : d.type;
      out.set(
        d.path,
        `${type} mode=${d.mode.toString(8)} size=${content.size} ` +
          `link=${type === 'symlink' ? d.linkpath : ''} sha256=${content.sha256}`,
      );
    }
    return out;
  };
  const ra = resolve(a);
  const rb = resolve(b);
  const diffs: string[] = [];
  for (const [p, v] of ra) {
    if (diffs.length >= limit) break;
    const w = rb.get(p);
    if (w === undefined) diffs.push(`${p}: only in the first`);
    else if (v !== w) diffs.push(`${p}: ${v} != ${w}`);
  }
  for (const p of rb.keys()) {
    if (diffs.length >= limit) break;
    if (!ra.has(p)) diffs.push(`${p}: only in the second`);
  }
  return diffs;
}
