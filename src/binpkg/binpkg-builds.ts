/**
 * Which builds (CATEGORY/PF and BUILD_ID) a PKGDIR holds binpkgs of: the
 * adapter between the rest of src/binpkg (GPKG, XPAK, PKGDIR walk, Packages
 * index) and what audit and prune ask, "is there a binpkg of this tarball's build?".
 *
 * A binpkg's identity comes from its Packages stanza (CPV, BUILD_ID) when
 * the stanza's SIZE matches the file, else from the package's own metadata
 * (src/binpkg reads it; the file name is not trusted). A binpkg that cannot
 * be read is identified by its name as a last resort, so that prune keeps
 * rather than deletes; one without any identity is listed as unreadable.
 */
import { openBinpkg } from './binpkg.js';
import { splitPf } from './metadata.js';
import { listPkgdir } from './pkgdir.js';
import { limiter } from '../util/limit.js';
import { canonicalBuildNumber } from '../portage/vdb.js';

export interface BinpkgBuild {
  /** Key used by `find`. */
  key: string;
  path: string;
  category: string;
  pf: string;
  buildNumber: string | undefined;
  /** Where the identity came from. */
  source: 'index' | 'metadata' | 'name';
}

export interface BinpkgIndex {
  readonly pkgdir: string;
  readonly size: number;
  /** The key of a binpkg of this build: same CATEGORY/PF and BUILD_ID, or one that records no BUILD_ID. */
  find(category: string, pf: string, buildNumber: string): string | undefined;
  entries(): Iterable<BinpkgBuild>;
  /** Binpkgs that could not be identified at all. */
  readonly unreadable: readonly { path: string; reason: string }[];
}

/** `CAT/PN/PF-BUILD_ID.ext` (multi-instance) or `CAT/PF.ext` (classic), as Portage names them. */
function identityFromName(
  relPath: string,
): { category: string; pf: string; buildNumber: string | undefined } | undefined {
  const parts = relPath.split('/');
  const base = parts[parts.length - 1]!.replace(/\.(gpkg\.tar|tbz2|xpak)$/, '');
  if (parts.length === 3) {
    const m = /^(.+)-(\d+)$/.exec(base);
    if (m && splitPf(m[1]!)?.pn === parts[1]) return { category: parts[0]!, pf: m[1]!, buildNumber: m[2]! };
  }
  if (parts.length === 2 && parts[0] !== 'All' && splitPf(base))
    return { category: parts[0]!, pf: base, buildNumber: undefined };
  return undefined;
}

export async function readBinpkgBuilds(pkgdir: string): Promise<BinpkgIndex> {
  const listing = await listPkgdir(pkgdir);
  const builds: BinpkgBuild[] = [];
  const unreadable: { path: string; reason: string }[] = [];
  const limit = limiter(4);
  await Promise.all(
    listing.binpkgs.map((b) =>
      limit(async () => {
        const idx = b.index;
        const slash = idx?.cpv.indexOf('/') ?? -1;
        if (idx && slash > 0 && (idx.size === undefined || idx.size === b.size)) {
          builds.push({
            key: '',
            path: b.path,
            category: idx.cpv.slice(0, slash),
            pf: idx.cpv.slice(slash + 1),
            buildNumber: idx.buildNumber,
            source: 'index',
          });
          return;
        }
        try {
          const { metadata } = await openBinpkg(b.path);
          builds.push({
            key: '',
            path: b.path,
            category: metadata.category,
            pf: metadata.pf,
            buildNumber: metadata.buildNumber,
            source: 'metadata',
          });
        } catch (err) {
          const named = identityFromName(b.relPath);
          if (named) builds.push({ key: '', path: b.path, ...named, source: 'name' });
          else unreadable.push({ path: b.path, reason: (err as Error).message });
        }
      }),
    ),
  );
  builds.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const byCpv = new Map<string, BinpkgBuild[]>();
  for (const b of builds) {
    if (b.buildNumber !== undefined) b.buildNumber = canonicalBuildNumber(b.buildNumber);
    b.key = `${b.category}/${b.pf}${b.buildNumber === undefined ? '' : `:${b.buildNumber}`}`;
    const cpv = `${b.category}/${b.pf}`;
    (byCpv.get(cpv) ?? byCpv.set(cpv, []).get(cpv)!).push(b);
  }
  return {
    pkgdir: listing.pkgdir,
    size: builds.length,
    unreadable,
    entries: () => builds,
    find(category, pf, buildNumber) {
      const id = canonicalBuildNumber(buildNumber);
      const candidates = byCpv.get(`${category}/${pf}`) ?? [];
      return (candidates.find((b) => b.buildNumber === id) ?? candidates.find((b) => b.buildNumber === undefined))?.key;
    },
  };
}
