import { type ArtifactReport, verifyTarballs, type VerifyReport } from '../debuginfod/verify.js';
import { printable, printableLine } from '../util/escape.js';
import type { CommandIO } from '../util/io.js';
import type { VerifyArgs } from './verify.args.js';
import { progressLine } from './progress.js';

const SHOWN_PER_LIST = 50;

export async function runVerify(args: VerifyArgs, io: CommandIO): Promise<number> {
  const progress = progressLine(io);
  let report: VerifyReport;
  try {
    report = await verifyTarballs(
      { ...args, env: io.env },
      {
        error: (m) => io.stderr.write(`packdebug: ${printableLine(m)}\n`),
        notice: (m) => io.stderr.write(`packdebug: notice: ${printable(m)}\n`),
        progress: progress.update,
      },
    );
  } finally {
    progress.clear();
  }

  if (args.json) io.stdout.write(`${JSON.stringify(report)}\n`);
  else io.stdout.write(describe(report, args.everyServer ?? false));
  return report.ok ? 0 : 1;
}

function describe(r: VerifyReport, everyServer: boolean): string {
  const lines: string[] = [];
  for (const s of r.servers) {
    lines.push(
      `${s.url}: ${s.served} of ${r.artifacts} served${r.deep ? ' and identical' : ''}, ` +
        `${s.missing.length} missing, ${s.mismatched.length} mismatched, ` +
        `${s.unauthorized.length} need credentials, ${s.errors.length} unanswered`,
    );
    const show = (what: string, items: ArtifactReport[]) => {
      for (const i of items.slice(0, SHOWN_PER_LIST))
        lines.push(`  ${what} ${i.buildId} ${i.kind} (${i.tarball}: ${i.member})${i.detail ? `: ${i.detail}` : ''}`);
      if (items.length > SHOWN_PER_LIST)
        lines.push(`  ... and ${items.length - SHOWN_PER_LIST} more ${what} (see --json)`);
    };
    show('missing', s.missing);
    show('mismatched', s.mismatched);
    show('unauthorized', s.unauthorized);
    show('unanswered', s.errors);
  }
  const unread =
    r.unreadable.length > 0 ? `, ${r.unreadable.length} unreadable tarball${r.unreadable.length === 1 ? '' : 's'}` : '';
  lines.push(
    `${r.served} of ${r.artifacts} build-ids served${everyServer ? ' by every server' : ''} ` +
      `from ${r.tarballs} tarball${r.tarballs === 1 ? '' : 's'}${unread}: ${r.ok ? 'OK' : 'FAILED'}`,
  );
  return `${lines.map((l) => printable(l)).join('\n')}\n`;
}
