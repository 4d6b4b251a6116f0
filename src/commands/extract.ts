import type { ExtractArgs } from './extract.args.js';
import { defaultTree } from '../portage/environment.js';
import { extractMember } from '../tarball/tree-search.js';
import { printable, printableLine } from '../util/escape.js';
import type { CommandIO } from '../util/io.js';

export async function runExtract(args: ExtractArgs, io: CommandIO): Promise<number> {
  const found = await extractMember({ ...args, source: args.source ?? defaultTree(io.env), env: io.env }, io.stdout, {
    warn: (m) => io.stderr.write(`packdebug: warning: ${printableLine(m)}\n`),
    notice: (m) => io.stderr.write(`packdebug: ${printable(m)}\n`),
  });
  if (args.verbose) {
    const via = { index: 'the Block layout', cache: 'the cached member index', scan: 'a sequential scan' }[found.via];
    io.stderr.write(
      `${printable(
        `packdebug: ${found.entry.path} (${found.entry.size} bytes) from ${found.tarball}, ` +
          `found by ${via}, ${found.bytesDecoded} bytes decoded`,
      )}\n`,
    );
  }
  return 0;
}
