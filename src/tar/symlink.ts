/**
 * The one rule for symlink members, shared by `pack` (which warns when it
 * stores such a link) and `audit` (which reports it as `symlink-escape`).
 *
 * debuginfod serves regular files only (it indexes archive members by their
 * ELF notes and skips symlinks), so no symlink harms what it serves. What a
 * link can do is lead an extraction (`tar -x -C DIR`) or a reader outside
 * the debug roots; writing through it needs a member below the link, which
 * is the `through-symlink` error (pack never writes one: it does not follow
 * symlinks). A link alone that leaves the roots is therefore a warning.
 */

export type SymlinkKind =
  /** The target, resolved in the archive, is below ./usr/lib/debug or ./usr/src/debug. */
  | 'inside'
  /** estrip's `.build-id/xx/yyyy -> ../../../../../usr/bin/foo`: relative, dangling by design. */
  | 'build-id-binary'
  /** Relative, stays inside the archive root, but outside the debug roots. */
  | 'outside-roots'
  /** Absolute, outside the debug roots (`/etc`). */
  | 'absolute'
  /** Relative, climbs above the archive root (`../../../../../../tmp`). */
  | 'climbs-out';

const ROOTS = ['usr/src/debug', 'usr/lib/debug'];
/** estrip's link to the binary: `.build-id/xx/yyyy` (no `.debug`). */
const BINARY_LINK_RE = /^usr\/lib\/debug\/(?:.*\/)?\.build-id\/[0-9a-f]{2}\/[0-9a-f]+$/;

function components(name: string): string[] {
  return name.split('/').filter((c) => c !== '' && c !== '.');
}

/** The canonical name (`a/b`) a link's target names in the archive, or undefined when it leaves the archive. */
function resolve(member: string[], target: string): string | undefined {
  const dir = target.startsWith('/') ? [] : member.slice(0, -1);
  for (const c of components(target)) {
    if (c !== '..') dir.push(c);
    else if (dir.length === 0) return undefined;
    else dir.pop();
  }
  return dir.length === 0 ? undefined : dir.join('/');
}

/** Classifies symlink member `member` (any spelling: `./a/b`, `a/b`) with target `target`. */
export function classifySymlink(member: string, target: string): SymlinkKind {
  const parts = components(member);
  const resolved = resolve(parts, target);
  const absolute = target.startsWith('/');
  if (resolved !== undefined && ROOTS.some((r) => resolved === r || resolved.startsWith(`${r}/`))) return 'inside';
  if (!absolute && resolved !== undefined && BINARY_LINK_RE.test(parts.join('/'))) return 'build-id-binary';
  if (absolute) return 'absolute';
  return resolved === undefined ? 'climbs-out' : 'outside-roots';
}

/** Whether a link of this kind is reported (audit: symlink-escape, a warning; pack: a warning). */
export function leavesDebugRoots(kind: SymlinkKind): boolean {
  return kind === 'outside-roots' || kind === 'absolute' || kind === 'climbs-out';
}

/** The message both pack and audit print for such a link. */
export function symlinkEscapeMessage(member: string, target: string): string {
  return `symlink '${member}' -> '${target}' leads outside the debug roots`;
}
