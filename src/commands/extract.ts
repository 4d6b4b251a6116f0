import type { ExtractArgs } from './extract.args.js';
import { defaultTree } from '../portage/environment.js';
import { extractMember } from '../tarball/tree-search.js';
import type { CommandIO } from './io.js';

export async function runExtract(args: ExtractArgs, io: CommandIO): Promise<number> {
  const found = await extractMember({ ...args, source: args.source ?? defaultTree(io.env), env: io.env }, io.stdout, {
    warn: (m) => io.stderr.write(`packdebug: warning: ${m}\n`),
    notice: (m) => io.stderr.write(`packdebug: ${m}\n`),
  });
  if (args.verbose) {
    io.stderr.write(
      `packdebug: ${found.entry.path} (${found.entry.size} bytes) from ${found.tarball}, found by ${{ index: 'the Block layout', cache: 'the cached member index', scan: 'a sequential scan' }[found.via]}, ${found.bytesDecoded} bytes decoded\n`,
    );
  }
  return 0;
}
