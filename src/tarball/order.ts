import { PackdebugError } from '../errors.js';

/**
 * The member order packdebug writes (src/image/walk.ts): ./usr/src/debug
 * before ./usr/lib/debug, then depth first with names in byte order, a
 * directory before its contents. Comparing component by component gives
 * exactly that order, which is what makes binary search over Block starts work.
 */
function components(name: string): string[] {
  return name.split('/').filter((c) => c !== '' && c !== '.');
}

function rootRank(c: readonly string[]): number {
  if (c[0] === 'usr' && c[2] === 'debug' && (c[1] === 'src' || c[1] === 'lib')) return c[1] === 'src' ? 0 : 1;
  return 2;
}

/** UTF-16 order is UTF-8 byte order except where surrogates meet U+E000-U+FFFF. */
const NOT_BYTE_ORDERED = /[\uD800-\uFFFF]/;

function compareComponents(a: string, b: string): number {
  if (a === b) return 0;
  if (!NOT_BYTE_ORDERED.test(a) && !NOT_BYTE_ORDERED.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function compareSplit(ca: readonly string[], cb: readonly string[]): number {
  const rank = rootRank(ca) - rootRank(cb);
  if (rank !== 0) return rank;
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const c = compareComponents(ca[i]!, cb[i]!);
    if (c !== 0) return c;
  }
  return ca.length - cb.length;
}

export function compareMemberNames(a: string, b: string): number {
  return compareSplit(components(a), components(b));
}

/** compareMemberNames(x, name) for many x: `name` is split once (a scan compares it with every header). */
export function comparedWith(name: string): (other: string) => number {
  const target = components(name);
  return (other) => compareSplit(components(other), target);
}

/** `/usr/x`, `usr/x/` and `./usr/x` all name the member `./usr/x`; `..` is refused. */
export function normalizeMemberName(name: string): string {
  const c = components(name);
  if (c.length === 0) throw new PackdebugError('E_USAGE', `invalid member name '${name}'`);
  if (c.includes('..')) throw new PackdebugError('E_UNSAFE', `member name '${name}' contains '..'; refused`);
  return `./${c.join('/')}`;
}

/** Same member, whatever the spelling (`./x/` for directories, `x`, `/x`). */
export function sameMemberName(a: string, b: string): boolean {
  return compareMemberNames(a, b) === 0;
}

/**
 * Resolves a symlink target against the directory of the link, within the
 * archive. Returns undefined when it leaves the archive's root.
 */
export function resolveLinkTarget(linkName: string, target: string): string | undefined {
  if (target.startsWith('/')) return normalizeSafe(target);
  const dir = components(linkName).slice(0, -1);
  for (const c of components(target)) {
    if (c === '..') {
      if (dir.length === 0) return undefined;
      dir.pop();
    } else dir.push(c);
  }
  return dir.length === 0 ? undefined : `./${dir.join('/')}`;
}

function normalizeSafe(name: string): string | undefined {
  const c = components(name);
  return c.length === 0 || c.includes('..') ? undefined : `./${c.join('/')}`;
}

/**
 * Which of several tarballs holding the same build-id or member answers:
 * the highest Portage BUILD_ID, then the newest file, then the first path
 * (extract on a tree, and readers of a tree's build-id index, alike).
 */
export function newestFirst(
  a: { buildNumber?: number | null; mtimeMs: number; path: string },
  b: { buildNumber?: number | null; mtimeMs: number; path: string },
): number {
  return (
    (b.buildNumber ?? -1) - (a.buildNumber ?? -1) ||
    b.mtimeMs - a.mtimeMs ||
    (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  );
}
