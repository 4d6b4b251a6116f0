/**
 * Compact sets and maps of member names for the audit (members.ts): a name
 * is kept as its 64-bit hash, 8 bytes in a typed array instead of a string
 * and a Set entry (a 400,000-member tarball took 249 MB as strings).
 *
 * The hash is FNV-1a over the UTF-16 code units of the canonical name,
 * started from a random basis per process, so that names crafted to collide
 * in one run do not collide in another. Two distinct names collide with
 * probability about 2^-64; what a collision can cost is said where hashes
 * are used.
 */
import { randomBytes } from 'node:crypto';

const seed = randomBytes(8);
const BASIS_HI = (0xcbf29ce4 ^ seed.readUInt32LE(0)) >>> 0;
const BASIS_LO = (0x84222325 ^ seed.readUInt32LE(4)) >>> 0;

/** A 64-bit hash as two unsigned 32-bit halves. */
export interface Hash64 {
  hi: number;
  lo: number;
}

/** A name's hash, and where its longest ancestor found in a table ends (-1: none). */
export interface NameHash extends Hash64 {
  ancestor: number;
}

/**
 * The hash of `name`; with `ancestors`, also the longest ancestor of the
 * (canonical) name that is a key there: `name.slice(0, ancestor)`. The
 * prefix hashes come for free on the way, one pass over the name.
 */
export function hashName(name: string, ancestors?: Hash64Table): NameHash {
  let hi = BASIS_HI;
  let lo = BASIS_LO;
  let ancestor = -1;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2f && i > 0 && ancestors !== undefined && ancestors.has(hi, lo)) ancestor = i;
    // h = (h ^ c) * 0x100000001b3 mod 2^64, on 32-bit halves (each product stays below 2^53).
    lo = (lo ^ c) >>> 0;
    const t = lo * 0x1b3;
    hi = (Math.imul(hi, 0x1b3) + Math.floor(t / 0x100000000) + (lo << 8)) >>> 0;
    lo = t >>> 0;
  }
  return { hi, lo, ancestor };
}

function slotOf(hi: number, lo: number, mask: number): number {
  // murmur3's finalizer: FNV's low bits alone spread poorly.
  let h = (hi ^ lo) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & mask;
}

/**
 * Open addressing over a Uint32Array: per slot the key's two halves and
 * `valueWords` 32-bit words of value. Key (0, 0) marks an empty slot (a
 * name that hashes to it is stored as (0, 1)). Grows at 3/4 full: at most
 * (8 + 4 * valueWords) * 8/3 bytes per entry, at least 3/8 of that.
 */
export class Hash64Table {
  #words: Uint32Array;
  #mask: number;
  #size = 0;
  readonly #stride: number;

  constructor(readonly valueWords: 0 | 1 | 2 = 0) {
    this.#stride = 2 + valueWords;
    this.#mask = 63;
    this.#words = new Uint32Array(64 * this.#stride);
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#words.byteLength;
  }

  #find(hi: number, lo: number): number {
    if (hi === 0 && lo === 0) lo = 1;
    const w = this.#words;
    for (let i = slotOf(hi, lo, this.#mask); ; i = (i + 1) & this.#mask) {
      const at = i * this.#stride;
      if ((w[at] === hi && w[at + 1] === lo) || (w[at] === 0 && w[at + 1] === 0)) return at;
    }
  }

  has(hi: number, lo: number): boolean {
    const at = this.#find(hi, lo);
    return this.#words[at] !== 0 || this.#words[at + 1] !== 0;
  }

  /** The value words at the key's slot, or undefined when the key is absent. */
  get(hi: number, lo: number, word = 0): number | undefined {
    const at = this.#find(hi, lo);
    if (this.#words[at] === 0 && this.#words[at + 1] === 0) return undefined;
    return this.#words[at + 2 + word];
  }

  /** Adds the key (or finds it) and sets its value words; true when it was new. */
  set(hi: number, lo: number, v0 = 0, v1 = 0): boolean {
    if (hi === 0 && lo === 0) lo = 1;
    const at = this.#find(hi, lo);
    const w = this.#words;
    const fresh = w[at] === 0 && w[at + 1] === 0;
    if (fresh) {
      if ((this.#size + 1) * 4 > (this.#mask + 1) * 3) {
        this.#grow();
        return this.set(hi, lo, v0, v1);
      }
      w[at] = hi;
      w[at + 1] = lo;
      this.#size++;
    }
    if (this.valueWords > 0) w[at + 2] = v0;
    if (this.valueWords > 1) w[at + 3] = v1;
    return fresh;
  }

  #grow(): void {
    const old = this.#words;
    const stride = this.#stride;
    this.#mask = this.#mask * 2 + 1;
    this.#words = new Uint32Array((this.#mask + 1) * stride);
    this.#size = 0;
    for (let at = 0; at < old.length; at += stride) {
      if (old[at] === 0 && old[at + 1] === 0) continue;
      const to = this.#find(old[at]!, old[at + 1]!);
      for (let k = 0; k < stride; k++) this.#words[to + k] = old[at + k]!;
      this.#size++;
    }
  }
}
