/**
 * `core --fetch DIR`: everything gdb needs for the modules found, laid out
 * as gdb looks for it, so that a backtrace needs no network:
 *
 *   DIR/usr/lib/debug/.build-id/xx/rest.debug   debug info (set debug-file-directory)
 *   DIR/usr/lib/debug/.build-id/xx/rest         the executable, when only that is found
 *   DIR/usr/src/debug/...                       the sources of the tarballs (set substitute-path)
 *   DIR/sysroot/PATH                            when a module's file is not on this system (set sysroot)
 *
 * Every file is written under a temporary name and renamed into place once
 * verified (the ELF note for build-ids; Block checks and tar headers for
 * sources). Nothing is written outside DIR: names come from index objects
 * and cores, so each is normalized and refused if it would leave DIR, and
 * no symlink inside DIR is followed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { artifactUrl } from '../debuginfod/probe.js';
import { fdSource, inspectElf } from '../elf/index.js';
import { PackdebugError } from '../errors.js';
import { httpGet, type HttpOptions } from '../http/client.js';
import { lookupIn, readMembers } from '../mirror/remote.js';
import type { TreeLocation } from '../mirror/tree-location.js';
import { matchesBuildId, type BuildIdKind } from '../tarball/elf-members.js';
import { AtomicFile, lstatBelow, mkdirBelow } from '../util/atomic.js';
import { type Coverage, type CoverageChecker, isSourceMember, type Place } from './coverage.js';
import type { Module } from './modules.js';

export interface FetchReport {
  /** Files written (debug files, executables, sources), and their bytes. */
  files: number;
  bytesWritten: number;
  /** xz bytes decoded to produce them (tree and mirror reads). */
  bytesDecoded: number;
  /** Files already there with the right content (a second run). */
  reused: number;
  /** Set when some module's file is not on this system and its executable was fetched. */
  sysroot?: string;
  failures: string[];
}

export interface FetchItem {
  module: Module;
  coverage: Coverage;
}

export interface FetchOptions {
  dir: string;
  trees: TreeLocation[];
  http: HttpOptions;
  checker: CoverageChecker;
  signal: AbortSignal;
}

export function debugFilePath(dir: string, buildId: string, kind: BuildIdKind): string {
  const name = `${buildId.slice(2)}${kind === 'debuginfo' ? '.debug' : ''}`;
  return path.join(dir, 'usr/lib/debug/.build-id', buildId.slice(0, 2), name);
}

/**
 * A relative path made of plain components, or undefined: absolute names
 * are made relative, and `.`, `..`, empty components and NULs refuse it.
 */
export function safeRelative(name: string): string | undefined {
  const parts = name
    .replace(/^\/+/, '')
    .replace(/^(\.\/)+/, '')
    .split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\0'))) return undefined;
  return parts.join('/');
}

export async function fetchInto(items: readonly FetchItem[], options: FetchOptions): Promise<FetchReport> {
  const { dir } = options;
  await fs.mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new PackdebugError('E_INPUT', `--fetch ${dir}: cannot create it (${err.code ?? err.message})`, { file: dir });
  });
  const report: FetchReport = { files: 0, bytesWritten: 0, bytesDecoded: 0, reused: 0, failures: [] };
  const doneIds = new Set<string>();
  const doneTarballs = new Set<string>();
  const executables = new Map<Module, string>();
  for (const { module: m, coverage: c } of items) {
    const id = m.buildId;
    if (id === undefined) continue;
    try {
      if (!doneIds.has(id)) {
        doneIds.add(id);
        if (c.debuginfo) await fetchBuildId(id, 'debuginfo', c.debuginfo, options, report);
        if (c.executable && (!c.debuginfo || !(await localFileMatches(m)))) {
          await fetchBuildId(id, 'executable', c.executable, options, report);
        }
      }
      if (c.executable && !(await localFileMatches(m))) {
        const exe = debugFilePath(dir, id, 'executable');
        if (await fs.stat(exe).catch(() => undefined)) executables.set(m, exe);
      }
      const holder = c.sources;
      if (holder?.tarball && !doneTarballs.has(`${holder.source}\0${holder.tarball}`)) {
        doneTarballs.add(`${holder.source}\0${holder.tarball}`);
        await fetchSources(holder, options, report);
      }
    } catch (err) {
      if (!(err instanceof PackdebugError) || err.code === 'E_UNSAFE' || err.code === 'E_NOSPC') throw err;
      report.failures.push(`${id}: ${err.message}`);
    }
  }
  if (executables.size > 0) report.sysroot = await buildSysroot(dir, items, executables);
  return report;
}

/** The module's file is on this system with the build-id the core names (gdb will read it there). */
async function localFileMatches(m: Module): Promise<boolean> {
  if (m.buildIdFrom === 'file' || m.path === undefined || !m.path.startsWith('/')) return m.buildIdFrom === 'file';
  const fh = await fs.open(m.path, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const st = await fh.stat();
    return st.isFile() && inspectElf(fdSource(fh.fd, st.size))?.gnuBuildId === m.buildId;
  } finally {
    await fh.close();
  }
}

/** A file already in place that is the artifact asked for: nothing to fetch again. */
async function alreadyThere(dir: string, file: string, id: string, kind: BuildIdKind): Promise<boolean> {
  const st = await lstatBelow(dir, file);
  if (!st?.isFile()) return false;
  const fh = await fs.open(file, 'r');
  try {
    const elf = inspectElf(fdSource(fh.fd, st.size));
    return elf !== undefined && matchesBuildId(elf, id, kind);
  } finally {
    await fh.close();
  }
}

async function fetchBuildId(
  id: string,
  kind: BuildIdKind,
  place: Place,
  options: FetchOptions,
  report: FetchReport,
): Promise<void> {
  const final = debugFilePath(options.dir, id, kind);
  if (await alreadyThere(options.dir, final, id, kind)) {
    report.reused++;
    return;
  }
  const out = await AtomicFile.create(final, { root: options.dir, mode: kind === 'debuginfo' ? 0o644 : 0o755 });
  try {
    let size: number;
    const tree = options.trees.find((t) => t.name === place.source);
    if (tree) {
      const location = tree.location();
      const answer = await lookupIn({
        source: location.url,
        location,
        id,
        kind,
        path: undefined,
        signal: options.signal,
        out: out.fh,
      });
      size = answer.size;
      report.bytesDecoded += answer.bytesDecoded ?? 0;
    } else {
      const url = artifactUrl(place.source, id, kind);
      if (url.startsWith('file:')) {
        // A file:// server is a directory in debuginfod's layout (as debuginfod-find reads one through curl).
        await out.fh.writeFile(await fs.readFile(fileURLToPath(url)));
        size = (await out.fh.stat()).size;
      } else {
        size = (await httpGet(url, { into: out.fh, maxBytes: 2 ** 40 }, { ...options.http, signal: options.signal }))
          .written;
      }
      await out.fh.truncate(size);
      const elf = inspectElf(fdSource(out.fh.fd, size));
      if (!elf || !matchesBuildId(elf, id, kind))
        throw new PackdebugError('E_VERIFY', `${place.source}: the ${kind} served for ${id} is not that file`);
    }
    await out.commit();
    report.files++;
    report.bytesWritten += size;
  } catch (err) {
    await out.abort();
    throw err;
  }
}

async function fetchSources(holder: Place, options: FetchOptions, report: FetchReport): Promise<void> {
  const tree = options.trees.find((t) => t.name === holder.source);
  const t = tree && options.checker.tarballRecord(tree, holder.tarball!);
  if (!tree || !t) return;
  const obj = await options.checker.tarballObject(tree, t);
  const members = obj.members.filter(isSourceMember).filter((m) => safeRelative(m.name) !== undefined);
  const wanted = [];
  for (const m of members) {
    const final = path.join(options.dir, safeRelative(m.name)!);
    const st = await lstatBelow(options.dir, final);
    if (st?.isFile() && st.size === m.size) report.reused++;
    else wanted.push(m);
  }
  if (wanted.length === 0) return;
  const { bytesDecoded } = await readMembers(
    tree.location(),
    t,
    wanted,
    async (m, data) => {
      const final = path.join(options.dir, safeRelative(m.name)!);
      const out = await AtomicFile.create(final, { root: options.dir, mode: 0o644 });
      try {
        await out.writing('writing', async () => {
          let done = 0;
          while (done < data.length) done += (await out.fh.write(data, done, data.length - done)).bytesWritten;
        });
        await out.commit();
      } catch (err) {
        await out.abort();
        throw err;
      }
      report.files++;
      report.bytesWritten += data.length;
    },
    options.signal,
  );
  report.bytesDecoded += bytesDecoded;
}

/**
 * DIR/sysroot with every module's file at its path: the fetched executable,
 * or a symlink to the file on this system when that is the right one. gdb
 * then loads all of them from there (`set sysroot`).
 */
async function buildSysroot(
  dir: string,
  items: readonly FetchItem[],
  executables: Map<Module, string>,
): Promise<string> {
  const root = path.join(dir, 'sysroot');
  for (const { module: m } of items) {
    if (m.kind === 'vdso' || m.path === undefined || !m.path.startsWith('/')) continue;
    const rel = safeRelative(m.path);
    if (rel === undefined) continue;
    const target = path.join(root, rel);
    if (await lstatBelow(dir, target)) continue;
    const exe = executables.get(m);
    await mkdirBelow(dir, path.dirname(target));
    if (exe) await fs.copyFile(exe, target);
    else if (await localFileMatches(m)) await fs.symlink(m.path, target);
  }
  return root;
}
