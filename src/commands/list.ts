import { PackdebugError } from '../errors.js';
import { listTarball, type ListResult } from '../tarball/list.js';
import type { CommandIO } from '../util/io.js';
import type { ListArgs } from './list.args.js';
import { printable, printableLine } from '../util/escape.js';
import { isUrl } from '../util/url.js';

export async function runList(args: ListArgs, io: CommandIO): Promise<number> {
  if (!args.tarball) throw new PackdebugError('E_USAGE', 'name a tarball');
  const r = isUrl(args.tarball)
    ? await (
        await import('../mirror/remote.js')
      ).listRemote(args.tarball, { log: (m) => io.stderr.write(`packdebug: ${printableLine(m)}\n`) })
    : await listTarball(args.tarball);
  io.stdout.write(args.json ? `${JSON.stringify(r)}\n` : formatListing(r));
  return 0;
}

/** The human listing: a table of members, then a summary line. */
export function formatListing(r: ListResult): string {
  const lines = r.entries.map((m) => {
    const link = m.linkpath ? ` -> ${printable(m.linkpath)}` : '';
    const elf = m.buildId
      ? `  [${m.debuginfod} ${m.buildId}]`
      : m.debuginfod === 'unknown'
        ? '  [build-id unknown (ELF too large to inspect)]'
        : m.goBuildIdOnly
          ? '  [Go build id only: not servable]'
          : m.debuginfod === 'none'
            ? '  [ELF without GNU build-id: not servable]'
            : '';
    return (
      `${String(m.offset).padStart(12)} ${m.type.padEnd(8)} ${m.mode} ${String(m.size).padStart(11)}  ` +
      `${printable(m.path)}${link}${elf}`
    );
  });
  const seekability = r.sorted
    ? 'seekable, packdebug layout'
    : r.packdebugLayout
      ? 'seekable, Blocks at member headers (original member order)'
      : r.seekable
        ? 'seekable (Blocks not at member boundaries)'
        : r.oneSmallBlock
          ? 'one small Block, read whole (no repack needed)'
          : "not seekable: 'packdebug repack' makes it so";
  return (
    `${'offset'.padStart(12)} ${'type'.padEnd(8)} mode ${'size'.padStart(11)}  name\n${lines.join('\n')}\n\n` +
    `${printable(r.tarball)}: ${r.members} members, ${r.buildIds} GNU build-ids; ` +
    `${r.blocks} xz Blocks (largest ${r.largestBlock} bytes); ` +
    `${seekability}\n`
  );
}
