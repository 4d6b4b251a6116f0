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

/** The fields that tell one version of a file from another, as stat(2) gives them. */
export interface FileVersion {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** The same file (device and inode), unchanged (size and mtime): what prune and repack check right before they unlink or rename. */
export function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
