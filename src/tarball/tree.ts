import fs from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError } from '../errors.js';

export interface TreeTarball {
  path: string;
  /** Portage's BUILD_ID from the name `PF-BUILD_ID-debug.tar.xz`, when it has one. */
  buildNumber: number | undefined;
  mtimeMs: number;
}

const NAME_RE = /-([0-9]+)-debug\.tar\.xz$/;

/**
 * The tarballs of a `.tarball` tree: `CATEGORY/PN/*-debug.tar.xz`, regular
 * files only, never through a symlink.
 */
export async function findTarballs(tree: string): Promise<TreeTarball[]> {
  const { globby } = await import('globby');
  const files = await globby('*/*/*-debug.tar.xz', { cwd: tree, onlyFiles: true, followSymbolicLinks: false, dot: false, absolute: true });
  const out: TreeTarball[] = [];
  for (const file of files.sort()) {
    const st = await fs.lstat(file).catch(() => undefined);
    if (!st?.isFile()) continue;
    const m = NAME_RE.exec(path.basename(file));
    out.push({ path: file, buildNumber: m ? Number(m[1]) : undefined, mtimeMs: st.mtimeMs });
  }
  return out;
}

/**
 * The tarballs named on a command line: files as given, directories as
 * trees (findTarballs); none given means `${EPREFIX}/usr/lib/debug/.tarball`.
 */
export async function tarballsFromTargets(targets: readonly string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const given = targets.length > 0 ? targets : [path.join(env['EPREFIX'] ?? '', '/usr/lib/debug/.tarball')];
  const files: string[] = [];
  for (const t of given) {
    const st = await fs.stat(t).catch(() => undefined);
    if (!st) throw new PackdebugError('E_INPUT', `${t}: no such tarball or directory`, { file: t });
    if (st.isDirectory()) files.push(...(await findTarballs(t)).map((x) => x.path));
    else files.push(t);
  }
  return files;
}
