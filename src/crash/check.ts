/**
 * `packdebug core`: for each core (or executable), its modules, where each
 * module's debug info, executable and sources are, and with a fetch
 * directory everything gdb needs written there.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PackdebugError } from '../errors.js';
import type { HttpOptions } from '../http/client.js';
import { openTreeLocation, type TreeLocation } from '../mirror/tree-location.js';
import { isBuildId } from '../mirror/format.js';
import { limiter } from '../util/limit.js';
import { type Coverage, CoverageChecker } from './coverage.js';
import { debugFilePath, fetchInto, type FetchReport } from './fetch.js';
import { gdbArgv } from './gdb.js';
import { type Module, readSubject, type Subject } from './modules.js';

/**
 * covered: debug info found; missing: not found anywhere asked; no-build-id;
 * vdso: the kernel's vDSO (its symbols are in the core; never counted missing);
 * unchecked: no tree or server was given.
 */
export type ModuleStatus = 'covered' | 'missing' | 'no-build-id' | 'vdso' | 'unchecked';

export interface ModuleReport extends Module {
  status: ModuleStatus;
  coverage?: Coverage;
}

export interface SubjectReport extends Omit<Subject, 'modules'> {
  modules: ModuleReport[];
  summary: { modules: number; withDebuginfo: number; without: number; withoutBuildId: number };
  fetched?: FetchReport & { gdb: string[] };
}

export interface CheckOptions {
  files: string[];
  /** Trees (directories) and mirrors (URLs), read through build-id indexes. */
  sources: string[];
  /** debuginfod servers. */
  servers: string[];
  /** --fetch DIR. */
  fetch?: string;
  /** Where indexes of local trees without a current one are kept; a temporary directory when absent. */
  cacheDir?: string;
  http: HttpOptions;
  env: NodeJS.ProcessEnv;
  log: { warn(message: string): void; notice(message: string): void; progress?(message: string): void };
}

/** Modules asked about at once. */
const CONCURRENCY = 8;

export async function checkCores(options: CheckOptions): Promise<SubjectReport[]> {
  const servers = options.servers.flatMap((s) => s.split(/\s+/)).filter(Boolean);
  for (const s of servers)
    if (!/^(https?|file):\/\//i.test(s)) throw new PackdebugError('E_USAGE', `--server ${s}: not an http(s) URL`);
  const subjects: Subject[] = [];
  for (const file of options.files) subjects.push(await readSubject(file, options.env));

  const tempCache = options.cacheDir === undefined && options.sources.length > 0;
  const cacheDir = options.cacheDir ?? (tempCache ? await fs.mkdtemp(path.join(os.tmpdir(), 'packdebug-core-')) : '');
  try {
    const trees: TreeLocation[] = [];
    for (const s of options.sources) {
      const tree = await openTreeLocation(s, {
        cacheDir,
        http: options.http,
        env: options.env,
        log: {
          warn: options.log.warn,
          progress: (done, total) => options.log.progress?.(`${s}: indexing ${done}/${total}`),
        },
      });
      if (await tree.refresh())
        options.log.notice(
          `${s}: no current build-id index; read its tarballs ` +
            `${options.cacheDir ? `into ${cacheDir}` : 'for this run'} (run 'packdebug index ${s}' to keep one)`,
        );
      trees.push(tree);
    }
    // Nothing cancels a run but the process's end: one signal that never fires.
    const signal = new AbortController().signal;
    const checker = new CoverageChecker({ trees, servers, http: options.http, signal });
    const asked = trees.length + servers.length > 0;
    const coverage = new Map<string, Promise<Coverage>>();
    const reports: SubjectReport[] = [];
    for (const subject of subjects) {
      let done = 0;
      const limit = limiter(CONCURRENCY);
      const modules = await Promise.all(
        subject.modules.map((m) =>
          limit(async () => {
            const report = await moduleReport(m, asked, checker, coverage);
            options.log.progress?.(`${subject.file}: checked ${++done}/${subject.modules.length} modules`);
            return report;
          }),
        ),
      );
      const report: SubjectReport = { ...subject, modules, summary: summarize(modules) };
      if (options.fetch !== undefined) {
        const dir = path.resolve(options.fetch);
        const items = modules.flatMap((m) => (m.coverage ? [{ module: m, coverage: m.coverage }] : []));
        const fetched = await fetchInto(items, { dir, trees, http: options.http, checker, signal });
        const program = await programOf(report, dir, fetched.sysroot);
        report.fetched = { ...fetched, gdb: gdbArgv({ dir, ...program, ...coreOf(report), ...fetched }) };
      }
      reports.push(report);
    }
    return reports;
  } finally {
    if (tempCache) await fs.rm(cacheDir, { recursive: true, force: true });
  }
}

async function moduleReport(
  m: Module,
  asked: boolean,
  checker: CoverageChecker,
  cache: Map<string, Promise<Coverage>>,
): Promise<ModuleReport> {
  if (m.buildId === undefined || !isBuildId(m.buildId)) return { ...m, status: 'no-build-id' };
  if (!asked) return { ...m, status: m.kind === 'vdso' ? 'vdso' : 'unchecked' };
  let p = cache.get(m.buildId);
  if (!p) {
    p = checker.check(m.buildId);
    cache.set(m.buildId, p);
  }
  const coverage = await p;
  if (m.kind === 'vdso' && !coverage.debuginfo) return { ...m, status: 'vdso', coverage };
  return { ...m, status: coverage.debuginfo ? 'covered' : 'missing', coverage };
}

function summarize(modules: readonly ModuleReport[]): SubjectReport['summary'] {
  const withDebuginfo = modules.filter((m) => m.status === 'covered').length;
  return {
    modules: modules.length,
    withDebuginfo,
    without: modules.length - withDebuginfo,
    withoutBuildId: modules.filter((m) => m.status === 'no-build-id').length,
  };
}

/** The program gdb should load: the main module's file when it is here, else its fetched executable. */
async function programOf(report: SubjectReport, dir: string, sysroot?: string): Promise<{ program?: string }> {
  if (report.type !== 'core') return { program: path.resolve(report.file) };
  const main = report.modules.find((m) => m.kind === 'main');
  if (!main?.buildId) return {};
  const exe = debugFilePath(dir, main.buildId, 'executable');
  if (sysroot === undefined && (await fs.stat(exe).catch(() => undefined))) return { program: exe };
  if (main.path?.startsWith('/') && !main.path.endsWith(' (deleted)')) {
    const p = sysroot ? path.join(sysroot, main.path) : main.path;
    if (await fs.stat(p).catch(() => undefined)) return { program: p };
  }
  return {};
}

function coreOf(report: SubjectReport): { core?: string } {
  return report.type === 'core' ? { core: path.resolve(report.file) } : {};
}
