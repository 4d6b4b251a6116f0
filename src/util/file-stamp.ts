import fs from 'node:fs/promises';

/** What identifies one version of a file for a cache: real path, size, mtime and inode. */
export interface FileStamp {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export async function fileStamp(file: string): Promise<FileStamp | undefined> {
  try {
    const real = await fs.realpath(file);
    const st = await fs.stat(real);
    return { path: real, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
  } catch {
    return undefined;
  }
}

export function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  return !!a && !!b && a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}
