/**
 * `packdebug audit` over a whole `.tarball` tree: the tree's layout, each
 * tarball (tarball.ts), build-ids found in several tarballs, and, when
 * given, the binpkgs of a PKGDIR and the installed packages of a VDB.
 *
 * Memory is bounded per tarball; across the tree only a table from the
 * 64-bit hash of each build-id to the first tarball that had it (12 to 32
 * bytes a build-id) and the names of those first tarballs grow with the
 * tree (a tarball whose build-ids were all seen before is not kept).
 * Results are handed to the sink as they are ready, in the order of the
 * walk, whatever the concurrency.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import { PackdebugError } from '../errors.js';
import type { BinpkgIndex } from '../binpkg/binpkg-builds.js';
import { type BuildProtections, loadProtections } from '../binpkg/protections.js';
import { walkTarballTree, type TreeItem } from '../tarball/tree.js';
import { finding, type Finding, type FindingCode, type Severity } from './findings.js';
import { Hash64Table, hashName } from './name-hash.js';
import { auditTarball, emptyAudit, type BlockLayout, type TarballAudit } from './tarball.js';

export interface AuditOptions {
  tree: string;
  deep?: boolean;
  /** A PKGDIR to compare with (see binpkg/binpkg-builds.ts). */
  pkgdir?: string;
  /** A VDB (`/var/db/pkg`) to tell installed builds by. */
  vdb?: string;
  /** Tarballs audited at once. Default: the number of cores, at most 4. */
  concurrency?: number;
}

export interface TarballReport {
  file: string;
  /** `CATEGORY/PN/FILE` below the tree. */
  rel: string;
  category?: string;
  pn?: string;
  pf?: string;
  buildId?: string;
  bytes: number;
  blocks: number;
  uncompressedBytes: number;
  seekable: boolean;
  layout: BlockLayout;
  members: number | null;
  elfFiles: number;
  buildIds: number;
  /** With --vdb: this build is installed. */
  installed?: boolean;
  /** With --pkgdir: a binpkg of this build exists. */
  binpkg?: boolean;
  findings: Finding[];
}

export interface AuditSink {
  /** A finding not about one tarball (stray files, binpkgs). */
  finding(f: Finding): void;
  tarball(r: TarballReport): void;
  /** `total` is known once the walk has finished. */
  progress?(done: number, total: number | undefined): void;
}

export interface AuditSummary {
  tree: string;
  deep: boolean;
  tarballs: number;
  bytes: number;
  uncompressedBytes: number;
  seekable: number;
  layouts: Record<BlockLayout, number>;
  members: number;
  elfFiles: number;
  /** ELF files whose build-id was not read (a shallow audit and very large Blocks). */
  elfNotInspected: number;
  distinctBuildIds: number;
  installed?: number;
  withBinpkg?: number;
  binpkgs?: number;
  findings: Record<Severity, number>;
  byCode: Partial<Record<FindingCode, number>>;
  /** Uncompressed bytes decoded, all tarballs. */
  decodedBytes: number;
  /** Some file or directory could not be read (exit status 2). */
  ioErrors: number;
}

const TREE_ITEM_CODES: Record<Exclude<TreeItem['kind'], 'tarball'>, FindingCode> = {
  'stray-file': 'stray-file',
  'stray-dir': 'stray-dir',
  symlink: 'symlink',
  special: 'stray-file',
  'temp-file': 'temp-file',
  'empty-dir': 'empty-dir',
  unreadable: 'io-error',
};

function treeItemMessage(item: Exclude<TreeItem, { kind: 'tarball' }>): string {
  switch (item.kind) {
    case 'stray-file':
      return 'not a CATEGORY/PN/PF-BUILD_ID-debug.tar.xz tarball';
    case 'special':
      return 'a special file (fifo, socket or device)';
    case 'stray-dir':
      return 'a directory where the layout has none';
    case 'symlink':
      return 'a symlink (not followed)';
    case 'temp-file':
      return 'a temporary file of pack or repack';
    case 'empty-dir':
      return 'an empty directory';
    case 'unreadable':
      return `cannot be read: ${(item.error as Error)?.message ?? String(item.error)}`;
  }
}

/** What the audit of a tree carries from one tarball to the next. */
interface TreeAudit {
  options: AuditOptions;
  summary: AuditSummary;
  protections: BuildProtections;
  owners: BuildIdOwners;
  /** Keys of the binpkgs some tarball matched. */
  usedBinpkgs: Set<string>;
}

type TarballItem = Extract<TreeItem, { kind: 'tarball' }>;
/** What the walk found, in walk order: a tarball with its audit (under way), or a finding about the tree. */
type WalkResult = { item: TarballItem; audit: Promise<TarballAudit> } | { finding: Finding };

export async function auditTree(options: AuditOptions, sink: AuditSink): Promise<AuditSummary> {
  const tree = options.tree;
  const st = await fs.stat(tree).catch(() => undefined);
  if (!st) throw new PackdebugError('E_INPUT', `${tree}: no such directory`, { file: tree });
  if (!st.isDirectory()) throw new PackdebugError('E_INPUT', `${tree}: not a directory`, { file: tree });
  const protections = await loadProtections(options);
  const { installed, binpkgs } = protections;

  const state: TreeAudit = {
    options,
    summary: emptySummary(tree, options.deep ?? false, installed !== undefined, binpkgs),
    protections,
    owners: new BuildIdOwners(),
    usedBinpkgs: new Set(),
  };
  const concurrency = Math.max(1, options.concurrency ?? Math.min(4, os.availableParallelism()));
  let done = 0;
  sink.progress?.(0, undefined);
  for await (const next of auditInWalkOrder(tree, options.deep, concurrency)) {
    if ('finding' in next) {
      countFinding(state.summary, next.finding);
      sink.finding(next.finding);
      continue;
    }
    if (!next.audit.gone) sink.tarball(tarballReport(state, next.item, next.audit));
    done++;
    sink.progress?.(done, next.total);
  }
  state.summary.distinctBuildIds = state.owners.distinct;
  if (binpkgs)
    for (const f of binpkgFindings(binpkgs, state.usedBinpkgs)) {
      countFinding(state.summary, f);
      sink.finding(f);
    }
  return state.summary;
}

function emptySummary(tree: string, deep: boolean, withVdb: boolean, binpkgs: BinpkgIndex | undefined): AuditSummary {
  const summary: AuditSummary = {
    tree,
    deep,
    tarballs: 0,
    bytes: 0,
    uncompressedBytes: 0,
    seekable: 0,
    layouts: { none: 0, 'single-block': 0, packdebug: 0, aligned: 0, unaligned: 0, unknown: 0 },
    members: 0,
    elfFiles: 0,
    elfNotInspected: 0,
    distinctBuildIds: 0,
    findings: { error: 0, warning: 0, info: 0 },
    byCode: {},
    decodedBytes: 0,
    ioErrors: 0,
  };
  if (withVdb) summary.installed = 0;
  if (binpkgs) {
    summary.withBinpkg = 0;
    summary.binpkgs = binpkgs.size;
  }
  return summary;
}

function countFinding(summary: AuditSummary, f: Finding): void {
  summary.findings[f.severity]++;
  summary.byCode[f.code] = (summary.byCode[f.code] ?? 0) + 1;
  if (f.code === 'io-error') summary.ioErrors++;
}

/**
 * Walks the tree and audits its tarballs, `concurrency` at a time: the walk
 * runs ahead of the audits by at most that many tarballs, and results come
 * out in walk order. Each audit comes with the number of tarballs in the
 * tree once the walk has finished (for progress).
 */
async function* auditInWalkOrder(
  tree: string,
  deep: boolean | undefined,
  concurrency: number,
): AsyncGenerator<{ finding: Finding } | { item: TarballItem; audit: TarballAudit; total: number | undefined }> {
  const window: WalkResult[] = [];
  let auditsInWindow = 0;
  let seen = 0;
  let total: number | undefined;
  // A tree that cannot be listed is an E_INPUT error naming it (walkTarballTree).
  const walk = walkTarballTree(tree);
  for (;;) {
    while (total === undefined && auditsInWindow < concurrency) {
      const r = await walk.next();
      if (r.done) total = seen;
      else if (r.value.kind === 'tarball') {
        const item = r.value;
        seen++;
        auditsInWindow++;
        window.push({ item, audit: auditTarball(item.path, { deep }).catch((err) => failedAudit(item.path, err)) });
      } else window.push({ finding: finding(TREE_ITEM_CODES[r.value.kind], r.value.path, treeItemMessage(r.value)) });
    }
    const head = window.shift();
    if (!head) return;
    if ('finding' in head) {
      yield head;
      continue;
    }
    auditsInWindow--;
    yield { item: head.item, audit: await head.audit, total };
  }
}

/**
 * Build-ids by tarball: the 64-bit hash of each build-id (a collision,
 * about 2^-64 a pair, makes a spurious duplicate or conflict finding) ->
 * the first tarball that had it; only such first tarballs are kept, by
 * `CATEGORY/PN/FILE`.
 */
class BuildIdOwners {
  #firstOwner = new Hash64Table(1);
  #owners: string[] = [];

  get distinct(): number {
    return this.#firstOwner.size;
  }

  /** Records the build-ids of tarball `rel`: those seen before, grouped by the tarball that had them first. */
  claim(rel: string, buildIds: Iterable<string>): Map<string, string[]> {
    const me = this.#owners.length;
    let owns = false;
    const shared = new Map<number, string[]>();
    for (const id of buildIds) {
      const h = hashName(id);
      const first = this.#firstOwner.get(h.hi, h.lo);
      if (first === undefined) {
        this.#firstOwner.set(h.hi, h.lo, me);
        owns = true;
      } else (shared.get(first) ?? shared.set(first, []).get(first)!).push(id);
    }
    if (owns) this.#owners.push(rel);
    return new Map([...shared].map(([owner, ids]) => [this.#owners[owner]!, ids]));
  }
}

/** The report of one audited tarball, with the findings only the tree shows; counted in the summary. */
function tarballReport(state: TreeAudit, item: TarballItem, audit: TarballAudit): TarballReport {
  const { summary, protections } = state;
  const { installed, binpkgs } = protections;
  const findings: Finding[] = [];
  if (typeof item.name === 'string') findings.push(finding('bad-name', item.path, item.name));
  findings.push(...audit.findings);
  const report: TarballReport = {
    file: item.path,
    rel: item.rel,
    bytes: audit.bytes,
    blocks: audit.blocks,
    uncompressedBytes: audit.uncompressedBytes,
    seekable: audit.seekable,
    layout: audit.layout,
    members: audit.members ?? null,
    elfFiles: audit.elfFiles,
    buildIds: audit.buildIds.size,
    findings,
  };
  const name = typeof item.name === 'object' ? item.name : undefined;
  if (name) Object.assign(report, { category: name.category, pn: name.pn, pf: name.pf, buildId: name.buildNumber });

  findings.push(...sharedBuildIdFindings(item, state.owners.claim(item.rel, audit.buildIds)));

  if (installed && name) {
    report.installed = protections.isInstalled(name);
    if (report.installed) summary.installed!++;
  }
  if (binpkgs && name) {
    const key = protections.binpkgOf(name);
    report.binpkg = key !== undefined;
    if (key !== undefined) {
      state.usedBinpkgs.add(key);
      summary.withBinpkg!++;
    } else
      findings.push(
        finding(
          'orphaned-tarball',
          item.path,
          `no binpkg of ${name.category}/${name.pf} with BUILD_ID ${name.buildNumber} in ${state.options.pkgdir}`,
        ),
      );
  }

  summary.tarballs++;
  summary.bytes += audit.bytes;
  summary.uncompressedBytes += audit.uncompressedBytes;
  if (audit.seekable) summary.seekable++;
  summary.layouts[audit.layout]++;
  summary.members += audit.members ?? 0;
  summary.elfFiles += audit.elfFiles;
  summary.elfNotInspected += audit.elfNotInspected;
  summary.decodedBytes += audit.decodedBytes;
  for (const f of findings) countFinding(summary, f);
  return report;
}

/** Build-ids `item` shares with tarballs before it (`shared`: first owner -> build-ids). */
function sharedBuildIdFindings(item: TarballItem, shared: Map<string, string[]>): Finding[] {
  // The directory says which package a tarball belongs to, also when its name is bad.
  const cp = `${item.category}/${item.pn}`;
  const findings: Finding[] = [];
  for (const [rel, ids] of shared) {
    const some = `${ids[0]}${ids.length > 1 ? ', ...' : ''}`;
    const what = `${ids.length} build-id${ids.length === 1 ? '' : 's'} (${some}) also in ${rel}`;
    if (rel.startsWith(`${cp}/`))
      findings.push(finding('duplicate-build-id', item.path, `${what}, another build of the same package`));
    else findings.push(finding('build-id-conflict', item.path, `${what}, a tarball of another package`));
  }
  return findings;
}

/** Binpkgs that could not be read, and those no tarball matched. */
function binpkgFindings(binpkgs: BinpkgIndex, used: ReadonlySet<string>): Finding[] {
  const findings = binpkgs.unreadable.map((u) => finding('binpkg-unreadable', u.path, u.reason));
  for (const b of binpkgs.entries()) {
    if (used.has(b.key)) continue;
    findings.push(
      finding(
        'binpkg-without-tarball',
        b.path,
        `${b.category}/${b.pf}${b.buildNumber ? ` (BUILD_ID ${b.buildNumber})` : ''} has no debug tarball in the tree`,
      ),
    );
  }
  return findings;
}

/** An audit that threw (a bug, not the file's fault): reported on the file, the others go on. */
function failedAudit(file: string, err: unknown): TarballAudit {
  const audit = emptyAudit(file);
  audit.findings.push(
    finding('io-error', file, `unexpected error while auditing: ${err instanceof Error ? err.message : String(err)}`),
  );
  audit.ioError = true;
  return audit;
}

/** Exit status: 2 when something could not be read, 1 with an error finding, else 0. */
export function auditExitStatus(summary: AuditSummary): number {
  if (summary.ioErrors > 0) return 2;
  return summary.findings.error > 0 ? 1 : 0;
}
