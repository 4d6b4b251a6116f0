import path from 'node:path';
import { auditExitStatus, auditTree, type AuditSummary, type TarballReport } from '../audit/audit.js';
import { FINDINGS, type Finding, type FindingCode, type Severity } from '../audit/findings.js';
import { defaultTree } from '../portage/environment.js';
import { printable } from '../util/escape.js';
import { formatSize } from '../util/size.js';
import type { CommandIO } from '../util/io.js';
import type { AuditArgs } from './audit.args.js';
import { progressLine } from './progress.js';

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Installed tarballs listed by name in the human output (--vdb); the rest are counted. */
const INSTALLED_SHOWN = 20;

/** Version of the --json output (docs/audit.md). */
export const AUDIT_SCHEMA = 'packdebug-audit/1';

export async function runAudit(args: AuditArgs, io: CommandIO): Promise<number> {
  const tree = path.resolve(args.tree ?? defaultTree(io.env));
  const progress = progressLine(io);
  const rel = (file: string) => {
    const r = path.relative(tree, file);
    return r.startsWith('..') || path.isAbsolute(r) ? file : r;
  };
  const shown = (f: Finding) => RANK[f.severity] <= RANK[args.severity ?? 'info'];
  const line = (f: Finding) =>
    `${printable(
      `${f.severity.padEnd(7)} ${f.code}  ${rel(f.file)}${f.member ? ` [${f.member}]` : ''}: ` +
        `${f.message}${f.fix ? `; fix: ${f.fix}` : ''}`,
    )}\n`;

  let summary: AuditSummary;
  if (args.json) {
    const treeFindings: Finding[] = [];
    let first = true;
    // Written with the first tarball (or at the end), never before: auditTree throws only before it emits anything
    // (the tree, --pkgdir and --vdb are read first), so a usage or I/O error leaves stdout empty, not broken JSON.
    let opened = false;
    const open = () => {
      if (opened) return;
      opened = true;
      io.stdout.write(
        `{"schema":${JSON.stringify(AUDIT_SCHEMA)},"tree":${JSON.stringify(tree)},` +
          `"deep":${args.deep === true},"tarballs":[`,
      );
    };
    summary = await auditTree(
      { tree, deep: args.deep, pkgdir: args.pkgdir, vdb: args.vdb },
      {
        finding: (f) => void (shown(f) && treeFindings.push(f)),
        tarball: (r: TarballReport) => {
          open();
          io.stdout.write(`${first ? '' : ','}\n${JSON.stringify({ ...r, findings: r.findings.filter(shown) })}`);
          first = false;
        },
        progress: (done, total) => progress.update(`audit: ${done}/${total ?? `${done}+`} tarballs`),
      },
    );
    progress.clear();
    open();
    io.stdout.write(`\n],"findings":${JSON.stringify(treeFindings)},"summary":${JSON.stringify(summary)}}\n`);
  } else {
    // With --vdb: which tarballs are of installed builds (those prune keeps), the first few by name.
    const installed: string[] = [];
    summary = await auditTree(
      { tree, deep: args.deep, pkgdir: args.pkgdir, vdb: args.vdb },
      {
        finding: (f) => {
          if (!shown(f)) return;
          progress.clear();
          io.stdout.write(line(f));
        },
        tarball: (r) => {
          if (r.installed && installed.length < INSTALLED_SHOWN) installed.push(printable(r.rel));
          const fs = r.findings.filter(shown);
          if (fs.length === 0) return;
          progress.clear();
          for (const f of fs) io.stdout.write(line(f));
        },
        progress: (done, total) => progress.update(`audit: ${done}/${total ?? `${done}+`} tarballs`),
      },
    );
    progress.clear();
    if (summary.installed) {
      const more = summary.installed - installed.length;
      io.stdout.write(
        `\ninstalled builds: ${summary.installed} tarball${summary.installed === 1 ? '' : 's'}\n` +
          installed.map((r) => `  ${r}\n`).join(''),
      );
      if (more > 0) io.stdout.write(`  ... and ${more} more (audit --json: "installed": true)\n`);
    }
    io.stdout.write(summaryTable(summary));
  }
  return auditExitStatus(summary);
}

function summaryTable(s: AuditSummary): string {
  const rows: [string, string][] = [
    [
      'tree',
      `${printable(s.tree)} (${s.deep ? 'deep: every Block decoded' : 'shallow: footers, Indexes, tar headers'})`,
    ],
    ['tarballs', `${s.tarballs} (${formatSize(s.bytes)}, ${formatSize(s.uncompressedBytes)} of tar)`],
    ['seekable', `${s.seekable}`],
    [
      'layouts',
      Object.entries(s.layouts)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || '-',
    ],
    ['members', `${s.members}`],
    [
      'ELF files',
      `${s.elfFiles}, ${s.distinctBuildIds} distinct build-ids` +
        (s.elfNotInspected ? `, ${s.elfNotInspected} not inspected` : ''),
    ],
  ];
  if (s.installed !== undefined) rows.push(['installed', `${s.installed} tarballs belong to installed builds`]);
  if (s.withBinpkg !== undefined)
    rows.push(['binpkgs', `${s.withBinpkg} tarballs have a binpkg; ${s.binpkgs} binpkgs in PKGDIR`]);
  rows.push(['decoded', formatSize(s.decodedBytes)]);
  rows.push(['findings', `${s.findings.error} errors, ${s.findings.warning} warnings, ${s.findings.info} info`]);
  let out = `\n${rows.map(([k, v]) => `${k.padEnd(10)} ${v}`).join('\n')}\n`;
  const codes = Object.entries(s.byCode) as [FindingCode, number][];
  if (codes.length > 0) {
    codes.sort((a, b) => RANK[FINDINGS[a[0]].severity] - RANK[FINDINGS[b[0]].severity] || (a[0] < b[0] ? -1 : 1));
    const width = Math.max(...codes.map(([c]) => c.length), 4);
    out += `\n${'code'.padEnd(width)}  severity  ${'count'.padStart(6)}  meaning\n`;
    for (const [code, n] of codes)
      out +=
        `${code.padEnd(width)}  ${FINDINGS[code].severity.padEnd(8)}  ${String(n).padStart(6)}  ` +
        `${FINDINGS[code].title}\n`;
  }
  return out;
}
