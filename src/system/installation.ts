/**
 * Where the running packdebug comes from, told by the real path of its own
 * code: installed by the ebuild (`${EPREFIX}/usr/lib/packdebug/lib/`), an
 * unpacked release tarball elsewhere (`<top>/lib/` beside
 * `<top>/lib/release.json`), or a checkout (`<repo>/src/`, `<repo>/dist/`).
 * Each ships the Portage hook in its own place, which `packdebug snippet
 * bashrc` prints and `packdebug doctor` reports. The layout is the release's
 * and the ebuild's (gentoo/app-portage/packdebug).
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type InstallationKind = 'installed' | 'release' | 'checkout' | 'unknown';

export interface Installation {
  kind: InstallationKind;
  /** The directory with bin/ and lib/ (installed, release) or the repository (checkout). */
  top?: string;
  /** EPREFIX of an installed packdebug: '' or a path without trailing slash. */
  eprefix?: string;
  /** The Portage hook this packdebug ships. */
  hookPath?: string;
  /** From lib/release.json (installed, release) or package.json (checkout); undefined when unreadable. */
  version?: string;
}

/** What locateInstallation reads of the file system, so tests can pass a made-up one. */
export interface InstallationFiles {
  isFile(file: string): boolean;
  /** The parsed JSON of a small file, or undefined when it cannot be read or parsed. */
  readJson(file: string): unknown;
}

/** Where the ebuild puts the release's bin/, lib/ and fixtures/, below EPREFIX. */
export const INSTALLED_TOP = '/usr/lib/packdebug';
/** Where the ebuild puts hooks/packdebug.bashrc, below EPREFIX. */
export const INSTALLED_HOOK = '/usr/share/packdebug/packdebug.bashrc';
const HOOK_IN_TREE = 'hooks/packdebug.bashrc';

function versionIn(json: unknown): string | undefined {
  const v = (json as { version?: unknown } | undefined)?.version;
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The installation that holds `modulePath`, a real path (symlinks resolved)
 * of a module of packdebug's code.
 */
export function locateInstallation(modulePath: string, files: InstallationFiles): Installation {
  const installed = new RegExp(`^(.*)${INSTALLED_TOP}/lib/`).exec(modulePath);
  if (installed) {
    const eprefix = installed[1]!;
    const top = `${eprefix}${INSTALLED_TOP}`;
    return {
      kind: 'installed',
      top,
      eprefix,
      hookPath: `${eprefix}${INSTALLED_HOOK}`,
      version: versionIn(files.readJson(`${top}/lib/release.json`)),
    };
  }
  for (let dir = path.dirname(modulePath); ; dir = path.dirname(dir)) {
    const releaseJson = path.join(dir, 'lib', 'release.json');
    const inLib = modulePath.startsWith(path.join(dir, 'lib') + path.sep);
    if (inLib && files.isFile(releaseJson)) {
      const release = files.readJson(releaseJson) as { kind?: unknown } | undefined;
      if (release?.kind === 'release') {
        return { kind: 'release', top: dir, hookPath: path.join(dir, HOOK_IN_TREE), version: versionIn(release) };
      }
    }
    if (files.isFile(path.join(dir, 'package.json')) && files.isFile(path.join(dir, HOOK_IN_TREE))) {
      const pkg = files.readJson(path.join(dir, 'package.json'));
      if ((pkg as { name?: unknown } | undefined)?.name === 'packdebug') {
        return { kind: 'checkout', top: dir, hookPath: path.join(dir, HOOK_IN_TREE), version: versionIn(pkg) };
      }
    }
    if (path.dirname(dir) === dir) return { kind: 'unknown' };
  }
}

/** The real file system. */
export const realFiles: InstallationFiles = {
  isFile(file) {
    try {
      return statSync(file).isFile();
    } catch {
      return false;
    }
  },
  readJson(file) {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch {
      return undefined;
    }
  },
};

let running: Installation | undefined;

/** The installation of the running packdebug (cached). */
export function runningInstallation(): Installation {
  if (running) return running;
  let file = fileURLToPath(import.meta.url);
  try {
    file = realpathSync(file);
  } catch {
    // as it was named
  }
  running = locateInstallation(file, realFiles);
  return running;
}

/** `packdebug --version`: one line, the version and the Node.js that runs it. */
export function versionLine(installation: Installation = runningInstallation(), node = process.version): string {
  return `packdebug ${installation.version ?? 'unknown'} (node ${node})`;
}
