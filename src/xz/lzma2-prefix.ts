/**
 * A small LZMA2 decoder for the first bytes of an xz Block: what a header
 * probe needs (which tar member starts a Block). Why not liblzma: loading
 * lzma-native costs about 18 ms of CPU, a large share of a whole `extract`,
 * and its stream decodes all the input it is given, while a probe wants
 * exactly n bytes. Bulk data still goes to xz(1) or lzma-native, which
 * also verify the Block's Check; this decoder verifies nothing beyond what
 * decoding itself needs, so callers use its output only as a hint that the
 * full decoders confirm (a probed header is re-read when the member is).
 *
 * Follows the LZMA2 and LZMA descriptions of XZ Embedded (public domain),
 * decoding into a flat buffer: a Block's dictionary starts empty at the
 * Block's start, so the output so far is the whole dictionary.
 */

/** The input ended before `want` bytes came out: call again with more of the Block. */
export class NeedMoreInput extends Error {
  constructor() {
    super('LZMA2 prefix: more compressed input needed');
    this.name = 'NeedMoreInput';
  }
}

/** The data is not valid LZMA2. */
export class Lzma2DataError extends Error {
  constructor(what: string) {
    super(`corrupt LZMA2 data: ${what}`);
    this.name = 'Lzma2DataError';
  }
}

const STATES = 12;
const POS_STATES_MAX = 16;
const LITERAL_STATES = 7;
const MATCH_LEN_MIN = 2;
const DIST_STATES = 4;
const DIST_SLOTS = 64;
const DIST_MODEL_START = 4;
const DIST_MODEL_END = 14;
const FULL_DISTANCES = 128;
const ALIGN_BITS = 4;
const PROB_INIT = 1024;

class RangeDecoder {
  range = 0xffffffff;
  code = 0;
  pos: number;

  constructor(
    private readonly input: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    if (end - start < 5) throw new NeedMoreInput();
    if (input[start] !== 0) throw new Lzma2DataError('range coder does not start with a zero byte');
    for (let i = 1; i < 5; i++) this.code = ((this.code << 8) | input[start + i]!) >>> 0;
    this.pos = start + 5;
  }

  private normalize(): void {
    if (this.range < 0x1000000) {
      if (this.pos >= this.end) throw new NeedMoreInput();
      this.range = (this.range << 8) >>> 0;
      this.code = ((this.code << 8) | this.input[this.pos++]!) >>> 0;
    }
  }

  bit(probs: Uint16Array, i: number): number {
    this.normalize();
    const prob = probs[i]!;
    const bound = (this.range >>> 11) * prob;
    if (this.code < bound) {
      this.range = bound;
      probs[i] = prob + ((2048 - prob) >>> 5);
      return 0;
    }
    this.range = (this.range - bound) >>> 0;
    this.code = (this.code - bound) >>> 0;
    probs[i] = prob - (prob >>> 5);
    return 1;
  }

  bittree(probs: Uint16Array, base: number, limit: number): number {
    let symbol = 1;
    while (symbol < limit) symbol = (symbol << 1) | this.bit(probs, base + symbol);
    return symbol - limit;
  }

  reverseBittree(probs: Uint16Array, base: number, bits: number): number {
    let symbol = 1;
    let result = 0;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(probs, base + symbol);
      symbol = (symbol << 1) | b;
      result |= b << i;
    }
    return result;
  }

  direct(bits: number): number {
    let result = 0;
    for (let i = 0; i < bits; i++) {
      this.normalize();
      this.range >>>= 1;
      const bit = this.code >= this.range ? 1 : 0;
      if (bit) this.code = (this.code - this.range) >>> 0;
      result = ((result << 1) | bit) >>> 0;
    }
    return result;
  }
}

class LengthDecoder {
  readonly choice = new Uint16Array(2);
  readonly low = new Uint16Array(POS_STATES_MAX * 8);
  readonly mid = new Uint16Array(POS_STATES_MAX * 8);
  readonly high = new Uint16Array(256);

  reset(): void {
    this.choice.fill(PROB_INIT);
    this.low.fill(PROB_INIT);
    this.mid.fill(PROB_INIT);
    this.high.fill(PROB_INIT);
  }

  decode(rc: RangeDecoder, posState: number): number {
    if (rc.bit(this.choice, 0) === 0) return MATCH_LEN_MIN + rc.bittree(this.low, posState * 8, 8);
    if (rc.bit(this.choice, 1) === 0) return MATCH_LEN_MIN + 8 + rc.bittree(this.mid, posState * 8, 8);
    return MATCH_LEN_MIN + 16 + rc.bittree(this.high, 0, 256);
  }
}

class LzmaState {
  lc = 0;
  lp = 0;
  pb = 0;
  state = 0;
  rep0 = 0;
  rep1 = 0;
  rep2 = 0;
  rep3 = 0;
  readonly isMatch = new Uint16Array(STATES * POS_STATES_MAX);
  readonly isRep = new Uint16Array(STATES);
  readonly isRep0 = new Uint16Array(STATES);
  readonly isRep1 = new Uint16Array(STATES);
  readonly isRep2 = new Uint16Array(STATES);
  readonly isRep0Long = new Uint16Array(STATES * POS_STATES_MAX);
  readonly distSlot = new Uint16Array(DIST_STATES * DIST_SLOTS);
  readonly distSpecial = new Uint16Array(FULL_DISTANCES - DIST_MODEL_END);
  readonly distAlign = new Uint16Array(1 << ALIGN_BITS);
  readonly matchLen = new LengthDecoder();
  readonly repLen = new LengthDecoder();
  readonly literal = new Uint16Array(16 * 0x300);

  setProperties(props: number): void {
    if (props > (4 * 5 + 4) * 9 + 8) throw new Lzma2DataError(`invalid properties byte ${props}`);
    this.pb = Math.floor(props / 45);
    props -= this.pb * 45;
    this.lp = Math.floor(props / 9);
    this.lc = props - this.lp * 9;
    if (this.lc + this.lp > 4) throw new Lzma2DataError('lc + lp is larger than 4');
  }

  reset(): void {
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
    for (const a of [
      this.isMatch,
      this.isRep,
      this.isRep0,
      this.isRep1,
      this.isRep2,
      this.isRep0Long,
      this.distSlot,
      this.distSpecial,
      this.distAlign,
      this.literal,
    ])
      a.fill(PROB_INIT);
    this.matchLen.reset();
    this.repLen.reset();
  }
}

/** Output so far, which is also the dictionary. */
class Output {
  readonly buf: Uint8Array;
  pos = 0;

  constructor(readonly want: number) {
    this.buf = new Uint8Array(want);
  }

  get full(): boolean {
    return this.pos >= this.want;
  }

  /** Copies `len` bytes from `dist + 1` back (stops when full). */
  repeat(dist: number, len: number): void {
    if (dist >= this.pos) throw new Lzma2DataError('match distance beyond the start of the Block');
    for (let i = 0; i < len && this.pos < this.want; i++, this.pos++)
      this.buf[this.pos] = this.buf[this.pos - dist - 1]!;
  }
}

/** Decodes one LZMA chunk's data until `chunkEnd` output bytes or a full output. */
function decodeLzmaChunk(s: LzmaState, rc: RangeDecoder, out: Output, chunkEnd: number): void {
  const pbMask = (1 << s.pb) - 1;
  const lpMask = (1 << s.lp) - 1;
  while (out.pos < chunkEnd && !out.full) {
    const posState = out.pos & pbMask;
    if (rc.bit(s.isMatch, s.state * POS_STATES_MAX + posState) === 0) {
      const prev = out.pos > 0 ? out.buf[out.pos - 1]! : 0;
      const base = 0x300 * (((out.pos & lpMask) << s.lc) + (prev >>> (8 - s.lc)));
      let symbol = 1;
      if (s.state < LITERAL_STATES) {
        while (symbol < 0x100) symbol = (symbol << 1) | rc.bit(s.literal, base + symbol);
      } else {
        if (s.rep0 >= out.pos) throw new Lzma2DataError('match distance beyond the start of the Block');
        let matchByte = out.buf[out.pos - s.rep0 - 1]! << 1;
        let offset = 0x100;
        while (symbol < 0x100) {
          const matchBit = matchByte & offset;
          matchByte <<= 1;
          if (rc.bit(s.literal, base + offset + matchBit + symbol)) {
            symbol = (symbol << 1) | 1;
            offset = matchBit;
          } else {
            symbol <<= 1;
            offset &= ~matchBit;
          }
        }
      }
      out.buf[out.pos++] = symbol & 0xff;
      s.state = s.state < 4 ? 0 : s.state < 10 ? s.state - 3 : s.state - 6;
      continue;
    }
    let len: number;
    if (rc.bit(s.isRep, s.state) === 0) {
      s.rep3 = s.rep2;
      s.rep2 = s.rep1;
      s.rep1 = s.rep0;
      len = s.matchLen.decode(rc, posState);
      s.state = s.state < LITERAL_STATES ? 7 : 10;
      const distState = Math.min(len - MATCH_LEN_MIN, DIST_STATES - 1);
      const slot = rc.bittree(s.distSlot, distState * DIST_SLOTS, DIST_SLOTS);
      if (slot < DIST_MODEL_START) {
        s.rep0 = slot;
      } else {
        const limit = (slot >>> 1) - 1;
        let dist = (2 + (slot & 1)) * 2 ** limit;
        if (slot < DIST_MODEL_END) {
          dist += rc.reverseBittree(s.distSpecial, dist - slot - 1, limit);
        } else {
          dist += rc.direct(limit - ALIGN_BITS) * 2 ** ALIGN_BITS;
          dist += rc.reverseBittree(s.distAlign, 0, ALIGN_BITS);
        }
        s.rep0 = dist;
      }
    } else {
      if (rc.bit(s.isRep0, s.state) === 0) {
        if (rc.bit(s.isRep0Long, s.state * POS_STATES_MAX + posState) === 0) {
          s.state = s.state < LITERAL_STATES ? 9 : 11;
          out.repeat(s.rep0, 1);
          continue;
        }
      } else {
        let dist: number;
        if (rc.bit(s.isRep1, s.state) === 0) {
          dist = s.rep1;
        } else {
          if (rc.bit(s.isRep2, s.state) === 0) {
            dist = s.rep2;
          } else {
            dist = s.rep3;
            s.rep3 = s.rep2;
          }
          s.rep2 = s.rep1;
        }
        s.rep1 = s.rep0;
        s.rep0 = dist;
      }
      s.state = s.state < LITERAL_STATES ? 8 : 11;
      len = s.repLen.decode(rc, posState);
    }
    if (len > chunkEnd - out.pos) throw new Lzma2DataError('match runs past the end of the chunk');
    out.repeat(s.rep0, len);
  }
}

/**
 * The first `want` uncompressed bytes of a Block whose only filter is
 * LZMA2, from `data` (the Compressed Data, after the Block Header; may be
 * cut short). Fewer bytes only when the LZMA2 data ends first. Throws
 * NeedMoreInput when `data` ends too early, Lzma2DataError when it is not LZMA2.
 */
export function decodeLzma2Prefix(data: Uint8Array, want: number): Buffer {
  const out = new Output(want);
  const s = new LzmaState();
  let pos = 0;
  let needDictReset = true;
  let needProps = true;
  while (!out.full) {
    if (pos >= data.length) throw new NeedMoreInput();
    const control = data[pos]!;
    if (control === 0) break; // end of the LZMA2 data
    if (control >= 0xe0 || control === 1) needDictReset = false;
    else if (needDictReset) throw new Lzma2DataError('first chunk does not reset the dictionary');
    if (control < 0x80) {
      if (control > 2) throw new Lzma2DataError(`invalid control byte 0x${control.toString(16)}`);
      if (pos + 3 > data.length) throw new NeedMoreInput();
      const size = ((data[pos + 1]! << 8) | data[pos + 2]!) + 1;
      pos += 3;
      const n = Math.min(size, want - out.pos);
      if (pos + n > data.length) throw new NeedMoreInput();
      out.buf.set(data.subarray(pos, pos + n), out.pos);
      out.pos += n;
      pos += size;
      continue;
    }
    const reset = (control >>> 5) & 3;
    const hasProps = reset >= 2;
    if (pos + (hasProps ? 6 : 5) > data.length) throw new NeedMoreInput();
    const unpacked = (control & 0x1f) * 65536 + ((data[pos + 1]! << 8) | data[pos + 2]!) + 1;
    const packed = ((data[pos + 3]! << 8) | data[pos + 4]!) + 1;
    pos += 5;
    if (hasProps) {
      s.setProperties(data[pos++]!);
      needProps = false;
    } else if (needProps) {
      throw new Lzma2DataError('LZMA chunk without properties');
    }
    if (reset >= 1) s.reset();
    const rc = new RangeDecoder(data, pos, Math.min(pos + packed, data.length));
    decodeLzmaChunk(s, rc, out, out.pos + unpacked);
    pos += packed;
  }
  return Buffer.from(out.buf.buffer, out.buf.byteOffset, out.pos);
}
