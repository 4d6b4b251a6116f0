import fs from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';
import { DEBUG_ROOTS, TARBALL_DIR } from '../portage/naming.js';

/** One thing in the image that goes into the tarball. */
export interface ImageEntry {
  /** Member name as Portage's tar writes it: `./usr/lib/debug/x`, directories with a trailing slash. */
  member: string;
  /** Path relative to the image, without `./` or trailing slash. */
  relPath: string;
  kind: 'directory' | 'file' | 'symlink' | 'hardlink';
  mode: number;
  /** Data bytes (regular files only). */
  size: number;
  /** Seconds since the epoch, clamped to SOURCE_DATE_EPOCH when given. */
  mtime: number;
  /** The mtime as found (ms), to notice a change after packing. */
  mtimeMs: number;
  /** Symlink target as stored on disk, or the member name a hardlink points to. */
  linkTarget: string;
  dev: number;
  ino: number;
}

export interface WalkResult {
  entries: ImageEntry[];
  /** The debug roots that exist in the image, relative to it. */
  roots: string[];
  /** Directories that were empty before packing (never pruned). */
  emptyDirs: Set<string>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a raw file name, refusing bytes that are not UTF-8 (they cannot be stored exactly). */
function decodeName(raw: Buffer, parent: string): string {
  try {
    return utf8.decode(raw);
  } catch {
    const escaped = raw
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    const shown = `${parent}/${escaped}`;
    throw new PackdebugError(
      'E_UNSAFE',
      `${shown}: file name is not valid UTF-8; packdebug refuses to store it under another name`,
      { file: shown },
    );
  }
}

/** Byte order of UTF-8 names: independent of locale, so the order is reproducible everywhere. */
function compareNames(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}

/**
 * Lists usr/src/debug then usr/lib/debug of the image, depth first, children
 * in byte order, never following a symlink and never entering the .tarball
 * directory. Refuses file types a debug tarball has no business holding.
 */
export async function walkDebugRoots(image: string, sourceDateEpoch?: number): Promise<WalkResult> {
  const entries: ImageEntry[] = [];
  const roots: string[] = [];
  const emptyDirs = new Set<string>();
  const firstLink = new Map<string, string>();

  let imageStat;
  try {
    imageStat = await fs.stat(image);
  } catch (err) {
    throw new PackdebugError('E_INPUT', `${image}: image directory not found`, { file: image, cause: err });
  }
  if (!imageStat.isDirectory()) throw new PackdebugError('E_INPUT', `${image}: not a directory`, { file: image });

  const clamp = (seconds: number) =>
    sourceDateEpoch !== undefined && seconds > sourceDateEpoch ? sourceDateEpoch : seconds;

  const visit = async (relPath: string): Promise<void> => {
    const abs = path.join(image, relPath);
    let st;
    try {
      st = await fs.lstat(abs, { bigint: false });
    } catch (err) {
      throw fromSystemError(err, abs, 'reading the image');
    }
    const base = {
      relPath,
      mode: st.mode & 0o7777,
      mtime: clamp(Math.floor(st.mtimeMs / 1000)),
      mtimeMs: st.mtimeMs,
      dev: st.dev,
      ino: st.ino,
    };
    if (st.isDirectory()) {
      entries.push({ ...base, member: `./${relPath}/`, kind: 'directory', size: 0, linkTarget: '' });
      let names: Buffer[];
      try {
        names = await fs.readdir(abs, { encoding: 'buffer' });
      } catch (err) {
        throw fromSystemError(err, abs, 'reading a directory');
      }
      if (names.length === 0) emptyDirs.add(relPath);
      names.sort(compareNames);
      for (const raw of names) {
        const child = `${relPath}/${decodeName(raw, abs)}`;
        if (child === TARBALL_DIR) continue;
        await visit(child);
      }
    } else if (st.isSymbolicLink()) {
      let target: Buffer;
      try {
        target = await fs.readlink(abs, { encoding: 'buffer' });
      } catch (err) {
        throw fromSystemError(err, abs, 'reading a symlink');
      }
      entries.push({
        ...base,
        member: `./${relPath}`,
        kind: 'symlink',
        size: 0,
        linkTarget: decodeName(target, `${abs} ->`),
      });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? firstLink.get(key) : undefined;
      if (first !== undefined) {
        entries.push({ ...base, member: `./${relPath}`, kind: 'hardlink', size: 0, linkTarget: first });
      } else {
        if (st.nlink > 1) firstLink.set(key, `./${relPath}`);
        entries.push({ ...base, member: `./${relPath}`, kind: 'file', size: st.size, linkTarget: '' });
      }
    } else {
      const what = st.isFIFO()
        ? 'a FIFO'
        : st.isSocket()
          ? 'a socket'
          : st.isCharacterDevice()
            ? 'a character device'
            : st.isBlockDevice()
              ? 'a block device'
              : 'an unknown file type';
      throw new PackdebugError(
        'E_UNSAFE',
        `${abs}: is ${what}; debug tarballs hold only directories, regular files and symlinks`,
        { file: abs },
      );
    }
  };

  for (const root of DEBUG_ROOTS) {
    // Every component must be a real directory: a symlinked usr/lib would lead out of the image.
    let present = true;
    const parts = root.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      const abs = path.join(image, rel);
      const st = await fs.lstat(abs).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
        throw fromSystemError(err, abs, 'reading the image');
      });
      if (st === undefined) {
        present = false;
        break;
      }
      if (st.isSymbolicLink()) {
        throw new PackdebugError(
          'E_UNSAFE',
          `${abs}: is a symlink; packdebug does not follow symlinks out of the image`,
          { file: abs },
        );
      }
      if (!st.isDirectory()) {
        present = false;
        break;
      }
    }
    if (!present) continue;
    roots.push(root);
    await visit(root);
  }
  return { entries, roots, emptyDirs };
}
