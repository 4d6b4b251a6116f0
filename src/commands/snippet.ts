/** `packdebug snippet KIND`: prints ready-to-paste configuration text. */
import { PackdebugError } from '../errors.js';
import { isSnippetKind, renderSnippet, snippetPath, SNIPPET_KINDS, type SnippetOptions } from '../portage/snippets.js';
import type { CommandIO } from '../util/io.js';
import type { SnippetArgs } from './snippet.args.js';

export async function runSnippet(args: SnippetArgs, io: CommandIO): Promise<number> {
  if (!isSnippetKind(args.kind)) {
    throw new PackdebugError(
      'E_USAGE',
      `unknown snippet kind '${args.kind}'; valid kinds: ${SNIPPET_KINDS.join(', ')}`,
    );
  }
  const opts: SnippetOptions = {};
  if (args.eprefix !== undefined) opts.eprefix = args.eprefix;
  if (args.url !== undefined) opts.url = args.url;
  if (args.port !== undefined) opts.port = args.port;
  // Renders (and so validates every option) before anything is printed.
  const text = renderSnippet(args.kind, opts);
  if (args.json) {
    io.stdout.write(`${JSON.stringify({ kind: args.kind, path: snippetPath(args.kind, opts), text }, null, 2)}\n`);
  } else {
    io.stdout.write(text);
  }
  return 0;
}
