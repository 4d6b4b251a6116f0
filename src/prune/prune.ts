/**
 * `packdebug prune`: deletes old tarballs from a tree, one CATEGORY/PN
 * directory at a time (the walk is sorted, so a directory's tarballs come
 * together and memory stays bounded by one directory).
 *
 * Safe beside a serving debuginfod and other packdebug runs (cron):
 *  - only regular files whose name parses as PF-BUILD_ID-debug.tar.xz in a
 *    valid CATEGORY/PN are candidates; symlinks are never followed;
 *  - right before unlink(2), the file is looked up again and must still be
 *    the same inode, size and mtime that were planned on (a repack or
 *    rebuild in between makes it "changed" and it stays);
 *  - unlink, never truncate: a debuginfod that has the file open reads on
 *    and forgets it at its next scan;
 *  - a directory is removed only when this run deleted tarballs from it and
 *    it is then empty (rmdir(2), which fails on anything that appeared);
 *  - a file that is gone already is not an error.
 * A dry run makes the same plan and the same re-checks, and reports the
 * directories that a real run would find empty.
 *
 * Reclaimed bytes count each inode once: hardlinked tarballs (two names,
 * one file) free their bytes with the deletion of the last link, which the
 * lstat before unlink tells (nlink 1); a dry run counts the links it would
 * delete. A tarball also linked from outside the tree frees nothing.
 */
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError } from '../errors.js';
import { loadProtections } from '../binpkg/protections.js';
import { walkTarballTree } from '../tarball/tree.js';
import { planGroup, type KeepReason, type PruneCandidate } from './plan.js';
import { sameStamp } from '../util/file-stamp.js';

export const DEFAULT_KEEP = 3;

export interface PruneOptions {
  tree: string;
  keep?: number;
  pkgdir?: string;
  vdb?: string;
  /** Only tarballs whose mtime is at least this many days ago are deleted. */
  olderThanDays?: number;
  dryRun?: boolean;
  /** The clock (tests). */
  now?: number;
}

export interface PruneEvents {
  /** A tarball deleted (or, in a dry run, that would be), and the bytes that frees; awaited before the next one. */
  deleted?(c: PruneCandidate, reclaimed: number): void | Promise<void>;
  removedDir?(dir: string): void;
  skipped?(file: string, reason: string): void;
}

export interface PruneResult {
  tree: string;
  dryRun: boolean;
  keep: number;
  /** `bytes`: the file's size; `reclaimed`: what deleting it frees (0 while another hardlink to it remains). */
  deleted: { path: string; rel: string; bytes: number; reclaimed: number }[];
  removedDirs: string[];
  /** Changed since planned: kept. */
  skipped: { path: string; reason: string }[];
  /** Could not be looked up or deleted (permissions, I/O). */
  failed: { path: string; reason: string }[];
  kept: Record<KeepReason, number>;
  /** Each inode counted once, when its last link is deleted (hardlinked tarballs: two names, one file). */
  reclaimedBytes: number;
}

const sameFile = (c: PruneCandidate, st: Stats) => st.isFile() && sameStamp(st, c);

export async function pruneTree(options: PruneOptions, events: PruneEvents = {}): Promise<PruneResult> {
  const tree = options.tree;
  const keep = options.keep ?? DEFAULT_KEEP;
  if (!Number.isSafeInteger(keep) || keep < 0)
    throw new PackdebugError('E_USAGE', `--keep ${keep}: expected a non-negative integer`);
  if (options.olderThanDays !== undefined && !(Number.isFinite(options.olderThanDays) && options.olderThanDays >= 0)) {
    throw new PackdebugError(
      'E_USAGE',
      `--older-than ${options.olderThanDays}: expected a non-negative number of days`,
    );
  }
  const st = await fs.stat(tree).catch(() => undefined);
  if (!st?.isDirectory()) throw new PackdebugError('E_INPUT', `${tree}: no such directory`, { file: tree });
  // Protection first: a PKGDIR or VDB that cannot be read stops the run before anything is deleted.
  const protections = await loadProtections(options);
  const now = options.now ?? Date.now();
  const policy = {
    keep,
    olderThanMs: options.olderThanDays === undefined ? undefined : now - options.olderThanDays * 86_400_000,
    protects: (c: PruneCandidate): KeepReason | undefined => {
      if (protections.binpkgOf(c.name) !== undefined) return 'binpkg';
      if (protections.isInstalled(c.name)) return 'installed';
      return undefined;
    },
  };

  const result: PruneResult = {
    tree,
    dryRun: options.dryRun ?? false,
    keep,
    deleted: [],
    removedDirs: [],
    skipped: [],
    failed: [],
    kept: { newest: 0, binpkg: 0, installed: 0, recent: 0 },
    reclaimedBytes: 0,
  };
  const skip = (file: string, reason: string, failed = false) => {
    (failed ? result.failed : result.skipped).push({ path: file, reason });
    events.skipped?.(file, reason);
  };

  // Dry run: links of multiply linked inodes this run would leave, `dev:ino` -> count (the lstat of a real
  // run sees its own deletions). An inode's bytes are reclaimed by deleting its last link, not before.
  const linksLeft = new Map<string, number>();
  const freesInode = (st: { dev: number; ino: number; nlink: number }): boolean => {
    if (!result.dryRun || st.nlink <= 1) return st.nlink <= 1;
    const key = `${st.dev}:${st.ino}`;
    const left = (linksLeft.get(key) ?? st.nlink) - 1;
    if (left <= 0) linksLeft.delete(key);
    else linksLeft.set(key, left);
    return left <= 0;
  };

  let group: PruneCandidate[] = [];
  let groupDir: string | undefined;
  const flush = async () => {
    if (groupDir === undefined) return;
    const dir = groupDir;
    const plan = planGroup(group, policy);
    group = [];
    groupDir = undefined;
    for (const k of plan.keep) result.kept[k.reason]++;
    const gone = new Set<string>();
    for (const c of plan.remove) {
      const now = await fs.lstat(c.path).catch((err: NodeJS.ErrnoException) => err);
      if (now instanceof Error) {
        if (now.code === 'ENOENT') gone.add(path.basename(c.path));
        else skip(c.path, `cannot look it up again: ${now.message}`, true);
        continue;
      }
      if (!sameFile(c, now)) {
        skip(c.path, 'changed since it was planned (rebuilt or repacked): kept');
        continue;
      }
      // Decided before unlink, from the lstat just made: nlink 1 means this name is the file's last.
      const reclaimed = freesInode(now) ? c.size : 0;
      if (!result.dryRun) {
        try {
          await fs.unlink(c.path);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          if (e.code === 'ENOENT') gone.add(path.basename(c.path));
          else skip(c.path, `cannot delete: ${e.message}`, true);
          continue;
        }
      }
      gone.add(path.basename(c.path));
      result.deleted.push({ path: c.path, rel: c.rel, bytes: c.size, reclaimed });
      result.reclaimedBytes += reclaimed;
      await events.deleted?.(c, reclaimed);
    }
    if (plan.remove.length > 0 && gone.size > 0) await removeEmptied(dir, gone);
  };

  const wouldBeRemoved = new Set<string>();
  /** The PN directory, then its category, when this run emptied them. */
  const removeEmptied = async (pnDir: string, gone: Set<string>) => {
    for (const [dir, removed] of [
      [pnDir, gone],
      [path.dirname(pnDir), new Set([path.basename(pnDir)])],
    ] as const) {
      if (result.dryRun) {
        const left = await fs.readdir(dir).catch(() => undefined);
        // Directories this dry run already counted as removed are gone too.
        if (!left || left.some((n) => !removed.has(n) && !wouldBeRemoved.has(path.join(dir, n)))) return;
      } else {
        try {
          await fs.rmdir(dir);
        } catch {
          return; // not empty (something else is there, or appeared), or gone
        }
      }
      result.removedDirs.push(dir);
      wouldBeRemoved.add(dir);
      events.removedDir?.(dir);
    }
  };

  for await (const item of walkTarballTree(tree)) {
    if (item.kind !== 'tarball' || typeof item.name === 'string') continue;
    const dir = path.dirname(item.path);
    if (dir !== groupDir) {
      await flush();
      groupDir = dir;
    }
    group.push({
      path: item.path,
      rel: item.rel,
      name: item.name,
      size: item.size,
      mtimeMs: item.mtimeMs,
      dev: item.dev,
      ino: item.ino,
    });
  }
  await flush();
  return result;
}
