/** `packdebug snippet KIND`: prints ready-to-paste configuration text. */
import { PackdebugError } from '../errors.js';
import {
  isPlainPath,
  isSnippetKind,
  renderSnippet,
  snippetPath,
  SNIPPET_KINDS,
  type SnippetOptions,
} from '../portage/snippets.js';
import { runningInstallation, type Installation } from '../system/installation.js';
import type { CommandIO } from '../util/io.js';
import type { SnippetArgs } from './snippet.args.js';

/**
 * The EPREFIX and hook of the snippets. --eprefix describes a Gentoo (Prefix)
 * with packdebug installed there; without it, the paths are those of the
 * running packdebug: an installed one's EPREFIX, a release's or checkout's
 * own hooks/packdebug.bashrc.
 */
function placesFor(installation: Installation, eprefix: string | undefined, io: CommandIO): SnippetOptions {
  if (eprefix !== undefined) return { eprefix };
  if (installation.kind === 'installed') return { eprefix: installation.eprefix ?? '' };
  const hook = installation.hookPath;
  if (hook === undefined) return {};
  if (!isPlainPath(hook)) {
    io.stderr.write(`packdebug: the hook ${hook} has characters a snippet cannot carry: printing the installed path\n`);
    return {};
  }
  return { hookPath: hook };
}

export async function runSnippet(
  args: SnippetArgs,
  io: CommandIO,
  installation: Installation = runningInstallation(),
): Promise<number> {
  if (!isSnippetKind(args.kind)) {
    throw new PackdebugError(
      'E_USAGE',
      `unknown snippet kind '${args.kind}'; valid kinds: ${SNIPPET_KINDS.join(', ')}`,
    );
  }
  const opts: SnippetOptions = placesFor(installation, args.eprefix, io);
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
