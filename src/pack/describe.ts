import { printable } from '../util/escape.js';
import type { PackResult } from './options.js';

/** The human summary of a pack: one line, and one more when files were removed from the image. */
export function describePack(r: PackResult): string {
  if (r.status === 'empty') return 'no usr/lib/debug or usr/src/debug content in the image: nothing to pack';
  const ratio = r.uncompressedBytes > 0 ? ((r.compressedBytes / r.uncompressedBytes) * 100).toFixed(1) : '0';
  const lines = [
    `${r.tarball}: ${r.members} members, ${r.uncompressedBytes} bytes -> ${r.compressedBytes} bytes (${ratio}%), ` +
      `${r.blocks} xz Blocks, verified${r.replaced ? ', replaced the existing tarball (same contents)' : ''}`,
  ];
  if (r.removedFiles > 0 || r.prunedDirs > 0)
    lines.push(`removed ${r.removedFiles} packed files and ${r.prunedDirs} emptied directories from the image`);
  // Paths come from the command line and the environment: escaped for the terminal.
  return lines.map((l) => printable(l)).join('\n');
}
