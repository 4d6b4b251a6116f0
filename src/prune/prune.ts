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
import { planGroup, type KeepReason, type PruneCandidate, type PrunePolicy } from './plan.js';
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

/** What a run carries from one CATEGORY/PN directory to the next. */
interface PruneRun {
  result: PruneResult;
  events: PruneEvents;
  /**
   * Dry run: links of multiply linked inodes this run would leave, `dev:ino` -> count (the lstat of a real
   * run sees its own deletions). An inode's bytes are reclaimed by deleting its last link, not before.
   */
  linksLeft: Map<string, number>;
  /** Directories removed (or, in a dry run, that would be). */
  removedDirs: Set<string>;
}

/** The tarballs of one CATEGORY/PN directory. */
interface PruneGroup {
  dir: string;
  candidates: PruneCandidate[];
}

export async function pruneTree(options: PruneOptions, events: PruneEvents = {}): Promise<PruneResult> {
  const tree = options.tree;
  const keep = checkedKeep(options);
  const st = await fs.stat(tree).catch(() => undefined);
  if (!st?.isDirectory()) throw new PackdebugError('E_INPUT', `${tree}: no such directory`, { file: tree });
  // Protection first: a PKGDIR or VDB that cannot be read stops the run before anything is deleted.
  const protections = await loadProtections(options);
  const now = options.now ?? Date.now();
  const policy = retentionPolicy(keep, options.olderThanDays, now, (c) => {
    if (protections.binpkgOf(c.name) !== undefined) return 'binpkg';
    if (protections.isInstalled(c.name)) return 'installed';
    return undefined;
  });

  const run: PruneRun = {
    result: emptyResult(tree, keep, options.dryRun ?? false),
    events,
    linksLeft: new Map(),
    removedDirs: new Set(),
  };
  for await (const group of candidateGroups(tree)) await pruneGroup(run, group, policy);
  return run.result;
}

/** `--keep` and `--older-than` as given: usage errors otherwise. */
function checkedKeep(options: PruneOptions): number {
  const keep = options.keep ?? DEFAULT_KEEP;
  if (!Number.isSafeInteger(keep) || keep < 0)
    throw new PackdebugError('E_USAGE', `--keep ${keep}: expected a non-negative integer`);
  if (options.olderThanDays !== undefined && !(Number.isFinite(options.olderThanDays) && options.olderThanDays >= 0)) {
    throw new PackdebugError(
      'E_USAGE',
      `--older-than ${options.olderThanDays}: expected a non-negative number of days`,
    );
  }
  return keep;
}

function retentionPolicy(
  keep: number,
  olderThanDays: number | undefined,
  now: number,
  protects: PrunePolicy['protects'],
): PrunePolicy {
  return { keep, olderThanMs: olderThanDays === undefined ? undefined : now - olderThanDays * 86_400_000, protects };
}

function emptyResult(tree: string, keep: number, dryRun: boolean): PruneResult {
  return {
    tree,
    dryRun,
    keep,
    deleted: [],
    removedDirs: [],
    skipped: [],
    failed: [],
    kept: { newest: 0, binpkg: 0, installed: 0, recent: 0 },
    reclaimedBytes: 0,
  };
}

/** The well-named tarballs of the tree, one CATEGORY/PN directory at a time (the walk is sorted). */
async function* candidateGroups(tree: string): AsyncGenerator<PruneGroup> {
  let group: PruneGroup | undefined;
  for await (const item of walkTarballTree(tree)) {
    if (item.kind !== 'tarball' || typeof item.name === 'string') continue;
    const dir = path.dirname(item.path);
    if (dir !== group?.dir) {
      if (group) yield group;
      group = { dir, candidates: [] };
    }
    group.candidates.push({
      path: item.path,
      rel: item.rel,
      name: item.name,
      size: item.size,
      mtimeMs: item.mtimeMs,
      dev: item.dev,
      ino: item.ino,
    });
  }
  if (group) yield group;
}

async function pruneGroup(run: PruneRun, group: PruneGroup, policy: PrunePolicy): Promise<void> {
  const plan = planGroup(group.candidates, policy);
  for (const k of plan.keep) run.result.kept[k.reason]++;
  const gone = new Set<string>();
  for (const c of plan.remove) if (await removeCandidate(run, c)) gone.add(path.basename(c.path));
  if (plan.remove.length > 0 && gone.size > 0) await removeEmptied(run, group.dir, gone);
}

function skip(run: PruneRun, file: string, reason: string, failed = false): void {
  (failed ? run.result.failed : run.result.skipped).push({ path: file, reason });
  run.events.skipped?.(file, reason);
}

/** Deletes `c` if it is still the file planned on. True when its name is gone (deleted now or before). */
async function removeCandidate(run: PruneRun, c: PruneCandidate): Promise<boolean> {
  const result = run.result;
  const now = await fs.lstat(c.path).catch((err: NodeJS.ErrnoException) => err);
  if (now instanceof Error) {
    if (now.code === 'ENOENT') return true;
    skip(run, c.path, `cannot look it up again: ${now.message}`, true);
    return false;
  }
  if (!sameFile(c, now)) {
    skip(run, c.path, 'changed since it was planned (rebuilt or repacked): kept');
    return false;
  }
  // Decided before unlink, from the lstat just made: nlink 1 means this name is the file's last.
  const reclaimed = freesInode(run, now) ? c.size : 0;
  if (!result.dryRun) {
    try {
      await fs.unlink(c.path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return true;
      skip(run, c.path, `cannot delete: ${e.message}`, true);
      return false;
    }
  }
  result.deleted.push({ path: c.path, rel: c.rel, bytes: c.size, reclaimed });
  result.reclaimedBytes += reclaimed;
  await run.events.deleted?.(c, reclaimed);
  return true;
}

/** Whether deleting this name frees the inode's bytes (see PruneRun.linksLeft). */
function freesInode(run: PruneRun, st: { dev: number; ino: number; nlink: number }): boolean {
  if (!run.result.dryRun || st.nlink <= 1) return st.nlink <= 1;
  const key = `${st.dev}:${st.ino}`;
  const left = (run.linksLeft.get(key) ?? st.nlink) - 1;
  if (left <= 0) run.linksLeft.delete(key);
  else run.linksLeft.set(key, left);
  return left <= 0;
}

/** The PN directory, then its category, when this run emptied them. */
async function removeEmptied(run: PruneRun, pnDir: string, gone: Set<string>): Promise<void> {
  for (const [dir, removed] of [
    [pnDir, gone],
    [path.dirname(pnDir), new Set([path.basename(pnDir)])],
  ] as const) {
    if (run.result.dryRun) {
      const left = await fs.readdir(dir).catch(() => undefined);
      // Directories this dry run already counted as removed are gone too.
      if (!left || left.some((n) => !removed.has(n) && !run.removedDirs.has(path.join(dir, n)))) return;
    } else {
      try {
        await fs.rmdir(dir);
      } catch {
        return; // not empty (something else is there, or appeared), or gone
      }
    }
    run.result.removedDirs.push(dir);
    run.removedDirs.add(dir);
    run.events.removedDir?.(dir);
  }
}
