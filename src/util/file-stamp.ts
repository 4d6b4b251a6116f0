import fs from 'node:fs/promises';

/**
 * One version of one file, as stat(2) gives it: the same file (device and
 * inode), unchanged (size and mtime). A `fs.Stats` is one. Which path the
 * file was reached by is not part of it: a cache keys its records by path,
 * and prune and repack compare against the path they are about to change.
 */
export interface FileStamp {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** The stamp of `file` (through symlinks), or undefined when it cannot be stat'ed (absent). */
export async function fileStamp(file: string): Promise<FileStamp | undefined> {
  try {
    return stampOf(await fs.stat(file));
  } catch {
    return undefined;
  }
}

/** The stamp fields of a stat result (a plain record, for JSON). */
export function stampOf(st: FileStamp): FileStamp {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

/**
 * The same version of the same file: what a cache record is trusted by, and
 * what prune and repack check right before they unlink or rename.
 */
export function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  return !!a && !!b && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
