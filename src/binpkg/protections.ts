/**
 * What keeps a tarball's build from counting as gone, for audit (which
 * reports orphans) and prune (which keeps them): a binpkg of the build in a
 * PKGDIR (--pkgdir) and the build being installed (--vdb).
 */
import { isInstalled, readInstalled, type InstalledPackages } from '../portage/vdb.js';
import type { TarballName } from '../portage/naming.js';
import type { BinpkgIndex } from './binpkg-builds.js';

export interface BuildProtections {
  /** With a VDB: the installed packages. */
  readonly installed: InstalledPackages | undefined;
  /** With a PKGDIR: its binpkgs' builds. */
  readonly binpkgs: BinpkgIndex | undefined;
  /** With a VDB: whether the tarball's build is installed (undefined without one). */
  isInstalled(name: TarballName): boolean | undefined;
  /** With a PKGDIR: the key of a binpkg of the tarball's build, if there is one. */
  binpkgOf(name: TarballName): string | undefined;
}

/**
 * Reads the VDB, then the PKGDIR, each only when given. Either one that
 * cannot be read throws (E_INPUT, naming it): audit and prune stop before
 * they report or delete anything by a protection they could not load.
 */
export async function loadProtections(options: { pkgdir?: string; vdb?: string }): Promise<BuildProtections> {
  const installed = options.vdb ? await readInstalled(options.vdb) : undefined;
  // Loaded only when asked for: the binpkg readers are most of src/binpkg.
  const binpkgs = options.pkgdir
    ? await (await import('./binpkg-builds.js')).readBinpkgBuilds(options.pkgdir)
    : undefined;
  return {
    installed,
    binpkgs,
    isInstalled: (n) => (installed ? isInstalled(installed, n.category, n.pf, n.buildNumber) : undefined),
    binpkgOf: (n) => binpkgs?.find(n.category, n.pf, n.buildNumber),
  };
}
