import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError } from '../errors.js';
import { defaultTree } from '../portage/environment.js';
import { INDEX_DIR } from '../portage/naming.js';
import { parseTarballName, type TarballName } from '../portage/naming.js';

export interface TreeTarball {
  path: string;
  /** Portage's BUILD_ID from the name `PF-BUILD_ID-debug.tar.xz`, when it has one. */
  buildNumber: number | undefined;
  mtimeMs: number;
}

const NAME_RE = /-([0-9]+)-debug\.tar\.xz$/;

/**
 * The tarballs of a `.tarball` tree: `CATEGORY/PN/*-debug.tar.xz`, regular
 * files only, never through a symlink (see walkTarballTree). With
 * `symlinks`, the symlinks passed over that could have led to tarballs (a
 * CATEGORY or PN, or a `*.tar.xz`) are added to it.
 */
export async function findTarballs(tree: string, symlinks?: string[]): Promise<TreeTarball[]> {
  const out: TreeTarball[] = [];
  for await (const item of walkTarballTree(tree)) {
    if (item.rel.split('/').some((c) => c.startsWith('.'))) continue;
    if (item.kind === 'symlink' && (item.rel.split('/').length < 3 || item.rel.endsWith('.tar.xz')))
      symlinks?.push(item.path);
    if (item.kind !== 'tarball' || !item.file.endsWith('-debug.tar.xz')) continue;
    const m = NAME_RE.exec(item.file);
    out.push({ path: item.path, buildNumber: m ? Number(m[1]) : undefined, mtimeMs: item.mtimeMs });
  }
  return out;
}

/** What a walk of a `.tarball` tree meets, in sorted order. */
export type TreeItem =
  | {
      kind: 'tarball';
      /** Absolute path. */
      path: string;
      /** `CATEGORY/PN/FILE`. */
      rel: string;
      category: string;
      pn: string;
      file: string;
      /** The parsed name, or what is wrong with it (the file is still a `.tar.xz` to check). */
      name: TarballName | string;
      size: number;
      mtimeMs: number;
      dev: number;
      ino: number;
    }
  | { kind: 'stray-file' | 'stray-dir' | 'symlink' | 'special' | 'temp-file' | 'empty-dir'; path: string; rel: string }
  | { kind: 'unreadable'; path: string; rel: string; error: unknown };

/** pack's temporary names: `.NAME.PID-RANDOM.tmp` (src/util/atomic.ts). */
const TEMP_RE = /^\..+\.tmp$/;

const isEnoent = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

const byName = (a: Dirent, b: Dirent) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Walks `tree` as Portage lays it out: `CATEGORY/PN/PF-BUILD_ID-debug.tar.xz`.
 * Everything else is reported, never entered (directories below PN) and
 * never followed (symlinks). Items come in byte order of their paths, one
 * directory listing in memory at a time.
 */
export async function* walkTarballTree(tree: string): AsyncGenerator<TreeItem> {
  const list = async (dir: string): Promise<Dirent[] | { error: unknown }> => {
    try {
      return (await fs.readdir(dir, { withFileTypes: true })).sort(byName);
    } catch (error) {
      return { error };
    }
  };
  const other = (d: Dirent, abs: string, rel: string): TreeItem =>
    d.isSymbolicLink()
      ? { kind: 'symlink', path: abs, rel }
      : d.isDirectory()
        ? { kind: 'stray-dir', path: abs, rel }
        : d.isFile()
          ? { kind: 'stray-file', path: abs, rel }
          : { kind: 'special', path: abs, rel };

  const top = await list(tree);
  if ('error' in top) {
    const reason = (top.error as Error)?.message ?? String(top.error);
    throw new PackdebugError('E_INPUT', `${tree}: cannot read the tree: ${reason}`, { file: tree, cause: top.error });
  }
  for (const cat of top) {
    if (cat.name === INDEX_DIR) continue;
    const catAbs = path.join(tree, cat.name);
    if (!cat.isDirectory()) {
      yield other(cat, catAbs, cat.name);
      continue;
    }
    const pns = await list(catAbs);
    if ('error' in pns) {
      // Removed since the listing (a concurrent prune): nothing to report.
      if (!isEnoent(pns.error)) yield { kind: 'unreadable', path: catAbs, rel: cat.name, error: pns.error };
      continue;
    }
    if (pns.length === 0) yield { kind: 'empty-dir', path: catAbs, rel: cat.name };
    for (const pn of pns) {
      const pnAbs = path.join(catAbs, pn.name);
      const pnRel = `${cat.name}/${pn.name}`;
      if (!pn.isDirectory()) {
        yield other(pn, pnAbs, pnRel);
        continue;
      }
      const files = await list(pnAbs);
      if ('error' in files) {
        if (!isEnoent(files.error)) yield { kind: 'unreadable', path: pnAbs, rel: pnRel, error: files.error };
        continue;
      }
      if (files.length === 0) yield { kind: 'empty-dir', path: pnAbs, rel: pnRel };
      for (const f of files) {
        const abs = path.join(pnAbs, f.name);
        const rel = `${pnRel}/${f.name}`;
        if (f.isFile() && TEMP_RE.test(f.name)) {
          yield { kind: 'temp-file', path: abs, rel };
          continue;
        }
        if (!f.isFile() || !f.name.endsWith('.tar.xz')) {
          yield other(f, abs, rel);
          continue;
        }
        const st = await fs.lstat(abs).catch((error: unknown) => ({ error }));
        if ('error' in st) {
          // Gone since the listing (a concurrent prune or repack): nothing to report.
          if (!isEnoent(st.error)) yield { kind: 'unreadable', path: abs, rel, error: st.error };
          continue;
        }
        if (!st.isFile()) {
          yield other(f, abs, rel);
          continue;
        }
        yield {
          kind: 'tarball',
          path: abs,
          rel,
          category: cat.name,
          pn: pn.name,
          file: f.name,
          name: parseTarballName(cat.name, pn.name, f.name),
          size: st.size,
          mtimeMs: st.mtimeMs,
          dev: st.dev,
          ino: st.ino,
        };
      }
    }
  }
}

/**
 * The tarballs named on a command line: files as given, directories as
 * trees (findTarballs); none given means `${EPREFIX}/usr/lib/debug/.tarball`.
 * With `symlinks`, the trees' symlinks that were not followed are added to
 * it, and a target that is a dangling symlink is listed as given (for the
 * caller to refuse, file by file). A target that is a symlink to a
 * directory is walked as that tree: naming it is the caller's choice.
 */
export async function tarballsFromTargets(
  targets: readonly string[],
  env: NodeJS.ProcessEnv,
  symlinks?: string[],
): Promise<string[]> {
  const given = targets.length > 0 ? targets : [defaultTree(env)];
  const files: string[] = [];
  for (const t of given) {
    const st = await fs.stat(t).catch(() => (symlinks ? fs.lstat(t).catch(() => undefined) : undefined));
    if (!st) throw new PackdebugError('E_INPUT', `${t}: no such tarball or directory`, { file: t });
    if (st.isDirectory()) files.push(...(await findTarballs(t, symlinks)).map((x) => x.path));
    else files.push(t);
  }
  return files;
}
