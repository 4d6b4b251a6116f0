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
import { bufferSource, fdSource } from '../elf/index.js';
import { PackdebugError } from '../errors.js';
import { httpGet, type HttpOptions } from '../http/client.js';
import { lookupIn, readMembers } from '../mirror/remote.js';
import type { MemberRecord } from '../mirror/format.js';
import type { TreeLocation } from '../mirror/tree-location.js';
import { matchesBuildId, verifyBuildIdFile, type BuildIdKind } from '../tarball/elf-members.js';
import { AtomicFile, lstatBelow, mkdirBelow } from '../util/atomic.js';
import { type Coverage, type CoverageChecker, isSourceMember, type Place } from './coverage.js';
import { elfOfFile, type Module } from './modules.js';

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

/** Members larger than this are streamed to their file on their own rather than read whole in a batch. */
const BATCH_MEMBER_MAX = 64 << 20;

/** Where a member read from a tarball goes, and what it must be. */
interface Target {
  final: string;
  mode: number;
  /** For debug files and executables: the build-id its ELF note must name. */
  check?: { id: string; kind: BuildIdKind };
}

/** The members wanted from one tarball of one tree, each with where it goes. */
interface TarballBatch {
  tree: TreeLocation;
  tarball: string;
  members: Map<string, Target[]>;
}

export async function fetchInto(items: readonly FetchItem[], options: FetchOptions): Promise<FetchReport> {
  const { dir } = options;
  await fs.mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new PackdebugError('E_INPUT', `--fetch ${dir}: cannot create it (${err.code ?? err.message})`, { file: dir });
  });
  const report: FetchReport = { files: 0, bytesWritten: 0, bytesDecoded: 0, reused: 0, failures: [] };
  const batches = new Map<string, TarballBatch>();
  const fromServers: Array<{ id: string; kind: BuildIdKind; place: Place }> = [];
  const doneIds = new Set<string>();
  const executables = new Map<Module, string>();
  /** Modules whose file is here with the build-id the core names. */
  const local = new Set<Module>();
  const fail = (id: string, err: unknown) => {
    if (!(err instanceof PackdebugError) || err.code === 'E_UNSAFE' || err.code === 'E_NOSPC') throw err;
    report.failures.push(`${id}: ${err.message}`);
  };

  // Plan: every tarball is read once, for all the debug files, executables and sources it holds.
  const batchOf = (place: Place): TarballBatch | undefined => {
    const tree = options.trees.find((t) => t.name === place.source);
    if (!tree || place.tarball === undefined) return undefined;
    const key = `${tree.name}\0${place.tarball}`;
    let b = batches.get(key);
    if (!b) batches.set(key, (b = { tree, tarball: place.tarball, members: new Map() }));
    return b;
  };
  const want = async (id: string, kind: BuildIdKind, place: Place): Promise<void> => {
    const final = debugFilePath(dir, id, kind);
    if (await alreadyThere(dir, final, id, kind)) {
      report.reused++;
      return;
    }
    const batch = batchOf(place);
    if (!batch || place.member === undefined) {
      fromServers.push({ id, kind, place });
      return;
    }
    const targets = batch.members.get(place.member) ?? [];
    targets.push({ final, mode: kind === 'debuginfo' ? 0o644 : 0o755, check: { id, kind } });
    batch.members.set(place.member, targets);
  };
  for (const { module: m, coverage: c } of items) {
    const id = m.buildId;
    if (id === undefined) continue;
    if (await localFileMatches(m)) local.add(m);
    if (!doneIds.has(id)) {
      doneIds.add(id);
      if (c.debuginfo) await want(id, 'debuginfo', c.debuginfo);
      if (c.executable && (!c.debuginfo || !local.has(m))) await want(id, 'executable', c.executable);
    }
    if (c.executable && !local.has(m)) executables.set(m, debugFilePath(dir, id, 'executable'));
    if (c.sources?.tarball !== undefined) {
      const batch = batchOf(c.sources);
      if (batch && !batch.members.has(SOURCES_KEY)) batch.members.set(SOURCES_KEY, []);
    }
  }

  for (const batch of batches.values()) {
    try {
      await readBatch(batch, options, report);
    } catch (err) {
      fail(batch.tarball, err);
    }
  }
  for (const { id, kind, place } of fromServers) {
    try {
      await fetchFromServer(id, kind, place, options, report);
    } catch (err) {
      fail(id, err);
    }
  }
  for (const [m, exe] of executables) if (!(await fs.stat(exe).catch(() => undefined))) executables.delete(m);
  if (executables.size > 0) report.sysroot = await buildSysroot(dir, items, executables, local);
  return report;
}

/** The batch key that asks for every source file of the tarball. */
const SOURCES_KEY = '\0sources';

/** Reads one tarball's wanted members through one reader (each Block decoded once) and writes them. */
async function readBatch(batch: TarballBatch, options: FetchOptions, report: FetchReport): Promise<void> {
  const { dir, checker, signal } = options;
  const t = checker.tarballRecord(batch.tree, batch.tarball);
  if (!t) return;
  const obj = await checker.tarballObject(batch.tree, t);
  const targets = new Map<MemberRecord, Target[]>();
  for (const m of obj.members) {
    const named = batch.members.get(m.name);
    if (named) targets.set(m, named);
    else if (batch.members.has(SOURCES_KEY) && isSourceMember(m)) {
      const rel = safeRelative(m.name);
      if (rel === undefined) continue;
      const final = path.join(dir, rel);
      const st = await lstatBelow(dir, final);
      if (st?.isFile() && st.size === m.size) report.reused++;
      else targets.set(m, [{ final, mode: 0o644 }]);
    }
  }
  const large = [...targets].filter(([m]) => m.size > BATCH_MEMBER_MAX);
  for (const [m] of large) targets.delete(m);
  if (targets.size > 0) {
    const { bytesDecoded } = await readMembers(
      batch.tree.location(),
      t,
      [...targets.keys()],
      async (m, data) => {
        for (const target of targets.get(m)!) {
          if (target.check) {
            const { id, kind } = target.check;
            verifyBuildIdFile(bufferSource(data), id, kind, `${batch.tree.archiveOf(batch.tarball)}: ${m.name}`);
          }
          await AtomicFile.write(target.final, data, { root: dir, mode: target.mode });
          report.files++;
          report.bytesWritten += data.length;
        }
      },
      signal,
    );
    report.bytesDecoded += bytesDecoded;
  }
  // Very large debug files stream into their file (lookupIn verifies the note).
  for (const [, list] of large) {
    for (const target of list) {
      if (!target.check) continue;
      const { id, kind } = target.check;
      const location = batch.tree.location();
      const answer = await AtomicFile.produce(target.final, { root: dir, mode: target.mode }, (out) =>
        lookupIn({ source: location.url, location, id, kind, path: undefined, signal, out: out.fh }),
      );
      report.files++;
      report.bytesWritten += answer.size;
      report.bytesDecoded += answer.bytesDecoded ?? 0;
    }
  }
}

/** The module's file is on this system with the build-id the core names (gdb will read it there). */
async function localFileMatches(m: Module): Promise<boolean> {
  if (m.buildIdFrom === 'file' || m.path === undefined || !m.path.startsWith('/')) return m.buildIdFrom === 'file';
  const elf = await elfOfFile(m.path);
  return typeof elf === 'object' && elf.gnuBuildId === m.buildId;
}

/** A file already in place that is the artifact asked for: nothing to fetch again. */
async function alreadyThere(dir: string, file: string, id: string, kind: BuildIdKind): Promise<boolean> {
  if (!(await lstatBelow(dir, file))?.isFile()) return false;
  const elf = await elfOfFile(file);
  return typeof elf === 'object' && matchesBuildId(elf, id, kind);
}

/** A debug file or executable from a debuginfod server, verified by its ELF note before it is renamed into place. */
async function fetchFromServer(
  id: string,
  kind: BuildIdKind,
  place: Place,
  options: FetchOptions,
  report: FetchReport,
): Promise<void> {
  const final = debugFilePath(options.dir, id, kind);
  const mode = kind === 'debuginfo' ? 0o644 : 0o755;
  const size = await AtomicFile.produce(final, { root: options.dir, mode }, async ({ fh }) => {
    const url = artifactUrl(place.source, id, kind);
    let written: number;
    if (url.startsWith('file:')) {
      // A file:// server is a directory in debuginfod's layout (as debuginfod-find reads one through curl).
      await fh.writeFile(await fs.readFile(fileURLToPath(url)));
      written = (await fh.stat()).size;
    } else {
      written = (await httpGet(url, { into: fh, maxBytes: 2 ** 40 }, { ...options.http, signal: options.signal }))
        .written;
    }
    await fh.truncate(written);
    verifyBuildIdFile(fdSource(fh.fd, written), id, kind, `${place.source}: the ${kind} served`);
    return written;
  });
  report.files++;
  report.bytesWritten += size;
}

/**
 * DIR/sysroot with every module's file at its path: the fetched executable,
 * or a symlink to the file on this system when that is the right one. gdb
 * then loads all of them from there (`set sysroot`). The link map may name
 * a library by another path than NT_FILE does (/lib/... on a merged-/usr
 * system, where NT_FILE has the real /usr/lib/...): the top-level symlinks
 * of this system's root that stay inside it (lib -> usr/lib) are made in
 * the sysroot too, so both names lead to the file.
 */
async function buildSysroot(
  dir: string,
  items: readonly FetchItem[],
  executables: Map<Module, string>,
  local: ReadonlySet<Module>,
): Promise<string> {
  const root = path.join(dir, 'sysroot');
  for (const { module: m } of items) {
    if (m.kind === 'vdso' || m.path === undefined || !m.path.startsWith('/')) continue;
    const rel = safeRelative(m.path);
    if (rel === undefined) continue;
    const target = path.join(root, rel);
    // Already there, or behind a symlink a previous run made: nothing to write.
    if (await lstatBelow(dir, target).catch(() => true)) continue;
    const exe = executables.get(m);
    if (!exe && !local.has(m)) continue;
    await mkdirBelow(dir, path.dirname(target));
    if (exe) await fs.copyFile(exe, target);
    else await fs.symlink(m.path, target);
  }
  for (const name of await fs.readdir('/').catch(() => [] as string[])) {
    const link = await fs.readlink(path.join('/', name)).catch(() => undefined);
    if (link === undefined || path.isAbsolute(link) || safeRelative(link) === undefined) continue;
    if (await fs.lstat(path.join(root, name)).catch(() => undefined)) continue;
    await fs.symlink(link, path.join(root, name));
  }
  return root;
}
