import fs from 'node:fs/promises';
import path from 'node:path';

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
