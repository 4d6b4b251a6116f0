import fs from 'node:fs/promises';
import path from 'node:path';
import type { WalkResult } from '../image/walk.js';

export interface RemoveResult {
  removedFiles: number;
  prunedDirs: number;
  /** Entries left in place because they changed since they were packed. */
  skipped: string[];
}

/**
 * Removes what was packed from the image, then the directories that this
 * removal emptied, deepest first, walking up through usr/lib, usr/src and
 * usr only while they are empty. Directories that were empty before packing
 * stay: a package may install empty directories on purpose.
 */
export async function removePacked(image: string, walk: WalkResult): Promise<RemoveResult> {
  const result: RemoveResult = { removedFiles: 0, prunedDirs: 0, skipped: [] };
  const touched = new Set<string>();
  for (const e of walk.entries) {
    if (e.kind === 'directory') continue;
    const abs = path.join(image, e.relPath);
    const st = await fs.lstat(abs).catch(() => undefined);
    // Only remove what we packed: the same inode, still of the same kind.
    if (!st || st.ino !== e.ino || st.dev !== e.dev || (e.kind === 'symlink') !== st.isSymbolicLink()) {
      result.skipped.push(e.relPath);
      continue;
    }
    await fs.unlink(abs);
    result.removedFiles++;
    touched.add(path.posix.dirname(e.relPath));
  }

  const candidates = new Set<string>();
  for (let dir of touched) {
    while (dir !== '.' && dir !== '' && !candidates.has(dir)) {
      candidates.add(dir);
      dir = path.posix.dirname(dir);
    }
  }
  // Deepest first, so a parent is tried after its children.
  const ordered = [...candidates].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1));
  for (const dir of ordered) {
    if (walk.emptyDirs.has(dir)) continue;
    try {
      await fs.rmdir(path.join(image, dir));
      result.prunedDirs++;
    } catch {
      // not empty (or already gone): it stays
    }
  }
  return result;
}
