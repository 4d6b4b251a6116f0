/**
 * PMS package versions (PMS 3.2 syntax, 3.3 comparison): `1.2.3b_rc1_p2-r4`.
 * Used to split `${PF}` into PN and version and to order builds of one
 * package from newest to oldest.
 */

/** A version as PMS allows it, revision included. */
export const VERSION_RE = /^(\d+)((?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|p)\d*)*)(?:-r(\d+))?$/;

export interface PmsVersion {
  text: string;
  numbers: string[];
  letter: string;
  suffixes: { kind: string; n: bigint }[];
  revision: bigint;
}

const SUFFIX_RANK: Record<string, number> = { alpha: 0, beta: 1, pre: 2, rc: 3, p: 5 };
/** Where "no further suffix" sorts: after _rc, before _p (PMS 3.3 algorithm 3.5). */
const NO_SUFFIX_RANK = 4;

export function parseVersion(text: string): PmsVersion | undefined {
  const m = VERSION_RE.exec(text);
  if (!m) return undefined;
  const numbers = [m[1]!, ...(m[2] ? m[2].slice(1).split('.') : [])];
  const suffixes = (m[4] ? m[4].slice(1).split('_') : []).map((s) => {
    const sm = /^(alpha|beta|pre|rc|p)(\d*)$/.exec(s)!;
    return { kind: sm[1]!, n: BigInt(sm[2] || '0') };
  });
  return { text, numbers, letter: m[3] ?? '', suffixes, revision: BigInt(m[5] ?? '0') };
}

const sign = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** PMS 3.3: negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a: PmsVersion, b: PmsVersion): number {
  const c0 = sign(BigInt(a.numbers[0]!), BigInt(b.numbers[0]!));
  if (c0 !== 0) return c0;
  for (let i = 1; i < Math.min(a.numbers.length, b.numbers.length); i++) {
    const x = a.numbers[i]!;
    const y = b.numbers[i]!;
    // A component with a leading zero compares as a decimal fraction (trailing zeros dropped).
    if (x.startsWith('0') || y.startsWith('0')) {
      const xs = x.replace(/0+$/, '');
      const ys = y.replace(/0+$/, '');
      if (xs !== ys) return xs < ys ? -1 : 1;
    } else {
      const c = sign(BigInt(x), BigInt(y));
      if (c !== 0) return c;
    }
  }
  if (a.numbers.length !== b.numbers.length) return a.numbers.length - b.numbers.length;
  if (a.letter !== b.letter) return a.letter < b.letter ? -1 : 1;
  for (let i = 0; i < Math.max(a.suffixes.length, b.suffixes.length); i++) {
    const x = a.suffixes[i];
    const y = b.suffixes[i];
    const rx = x ? SUFFIX_RANK[x.kind]! : NO_SUFFIX_RANK;
    const ry = y ? SUFFIX_RANK[y.kind]! : NO_SUFFIX_RANK;
    if (rx !== ry) return rx - ry;
    const c = sign(x!.n, y!.n);
    if (c !== 0) return c;
  }
  return sign(a.revision, b.revision);
}
