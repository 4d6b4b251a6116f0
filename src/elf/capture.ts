/**
 * ElfCapture: collects, from a file streamed front to back (a tar member
 * being read), just the byte ranges inspectElf needs, in bounded memory.
 *
 * Kept: the first 64 KiB (ELF header, program headers, and the note
 * sections, which linkers and objcopy/strip/eu-strip place right after the
 * headers, also in --only-keep-debug files), and the 1 MiB before e_shoff
 * (where .shstrtab ends up: objcopy, strip and ld write it last, right before
 * the section header table). Beyond that the capture asks inspectElf itself
 * what it wants: whenever a kept range completes, inspectElf runs on what is
 * there, and every range it failed to read or hinted at (ByteSource.want)
 * that still lies ahead in the stream (the section header table, PT_NOTE
 * segments, note sections or a string table placed elsewhere) is kept as it
 * streams by. A range that had already streamed past unkept stays missing,
 * and inspectElf then reports `incomplete`.
 *
 * Memory: at most MAX_RETAINED_BYTES whatever the file size; for gcc and
 * binutils output about 1.1 MiB plus the section header table.
 *
 * Other readers plan the same way through `inspect` (a core file's reader
 * asks for its notes and the ELF header pages of its modules), and a stream
 * whose length is not known ahead (a decompressor's output) is captured
 * with size UNKNOWN_SIZE, then read through `finished()`.
 */
import { isElf, parseElfHeader } from './header.js';
import { inspectElf } from './inspect.js';
import { fits, type ByteSource } from './source.js';

export const CAPTURE_HEAD_BYTES = 64 * 1024;
export const CAPTURE_WINDOW_BYTES = 1024 * 1024;
/** Hard ceiling on the bytes one capture keeps. */
export const MAX_RETAINED_BYTES = 32 * 1024 * 1024;
/** The size of a stream whose length is known only at its end. */
export const UNKNOWN_SIZE = Number.MAX_SAFE_INTEGER;
/** inspectElf runs at most this often per push; leftover planning happens on the next push. */
const MAX_PLANS_PER_PUSH = 16;

/** A kept range [start, end): `got` bytes from start have arrived. */
interface Piece {
  start: number;
  end: number;
  got: number;
  data: Buffer | undefined;
}

export interface CaptureOptions {
  /** Reads what it needs from the capture; the ranges it missed are kept if still ahead. Default: inspectElf. */
  inspect?: (src: ByteSource) => unknown;
  /** Bytes kept from the start. Default CAPTURE_HEAD_BYTES. */
  headBytes?: number;
  /** Ceiling on the bytes kept. Default MAX_RETAINED_BYTES. */
  maxRetained?: number;
}

export class ElfCapture implements ByteSource {
  readonly size: number;
  private readonly inspect: (src: ByteSource) => unknown;
  private readonly maxRetained: number;
  private received = 0;
  private readonly pieces: Piece[] = [];
  private planned = 0;
  private headerSeen = false;
  /** Planning was cut short (MAX_PLANS_PER_PUSH): resume on the next push. */
  private planPending = false;
  private recording: Array<[number, number]> | undefined;

  constructor(size: number, options: CaptureOptions = {}) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`ElfCapture: bad file size ${size}`);
    this.size = size;
    this.inspect = options.inspect ?? inspectElf;
    this.maxRetained = options.maxRetained ?? MAX_RETAINED_BYTES;
    this.keep(0, Math.min(size, options.headBytes ?? CAPTURE_HEAD_BYTES));
  }

  /** The capture as a source of the `position` bytes received (for a stream of UNKNOWN_SIZE, once it ended). */
  finished(): ByteSource {
    const size = this.received;
    return { size, read: (offset, length) => (fits(offset, length, size) ? this.read(offset, length) : undefined) };
  }

  /** Bytes of the file received so far. */
  get position(): number {
    return this.received;
  }

  /** Bytes held in memory. */
  get retainedBytes(): number {
    let n = 0;
    for (const p of this.pieces) if (p.data !== undefined) n += p.data.length;
    return n;
  }

  /** The next bytes of the file. Bytes past `size` are ignored. */
  push(chunk: Buffer): void {
    const room = this.size - this.received;
    if (chunk.length === 0 || room <= 0) return;
    const data = chunk.length > room ? chunk.subarray(0, room) : chunk;
    const start = this.received;
    let completed = this.fill(this.pieces, data, start) || this.planPending;
    this.received = start + data.length;
    for (let round = 0; completed && round < MAX_PLANS_PER_PUSH; round++) {
      const added = this.plan(start);
      completed = added.length > 0 && this.fill(added, data, start);
    }
    this.planPending = completed;
  }

  read(offset: number, length: number): Buffer | undefined {
    if (!fits(offset, length, this.size)) return undefined;
    if (length === 0) return Buffer.alloc(0);
    const end = offset + length;
    for (const p of this.pieces) {
      if (p.data !== undefined && p.start <= offset && end <= p.start + p.got) {
        return p.data.subarray(offset - p.start, end - p.start);
      }
    }
    const overlapping = this.pieces
      .filter((p) => p.data !== undefined && p.start < end && p.start + p.got > offset)
      .sort((a, b) => a.start - b.start);
    const parts: Buffer[] = [];
    let covered = offset;
    for (const p of overlapping) {
      if (p.start > covered) break;
      const to = Math.min(p.start + p.got, end);
      if (to > covered) {
        parts.push(p.data!.subarray(covered - p.start, to - p.start));
        covered = to;
      }
      if (covered === end) return Buffer.concat(parts, length);
    }
    this.recording?.push([offset, end]);
    return undefined;
  }

  want(offset: number, length: number): void {
    if (length > 0 && fits(offset, length, this.size)) this.recording?.push([offset, offset + length]);
  }

  /** Copies the chunk's bytes into pieces; true when one of them completed. */
  private fill(pieces: readonly Piece[], chunk: Buffer, chunkStart: number): boolean {
    const chunkEnd = chunkStart + chunk.length;
    let completed = false;
    for (const p of pieces) {
      const next = p.start + p.got;
      if (next >= p.end || next < chunkStart || next >= chunkEnd) continue;
      const to = Math.min(p.end, chunkEnd);
      p.data ??= Buffer.allocUnsafe(p.end - p.start);
      chunk.copy(p.data, p.got, next - chunkStart, to - chunkStart);
      p.got += to - next;
      if (p.got === p.end - p.start) completed = true;
    }
    return completed;
  }

  /** Plans a kept range, unless one already covers it or the ceiling is reached. */
  private keep(start: number, end: number): Piece | undefined {
    if (end <= start) return undefined;
    if (this.pieces.some((p) => p.start <= start && end <= p.end)) return undefined;
    if (this.planned + (end - start) > this.maxRetained) return undefined;
    const piece: Piece = { start, end, got: 0, data: undefined };
    this.pieces.push(piece);
    this.planned += end - start;
    return piece;
  }

  /** Decides what else to keep from `from` on; returns the new pieces. */
  private plan(from: number): Piece[] {
    const added: Piece[] = [];
    const add = (start: number, end: number): void => {
      const piece = this.keep(Math.max(start, from), Math.min(end, this.size));
      if (piece !== undefined) added.push(piece);
    };
    if (!this.headerSeen && this.inspect === inspectElf) {
      this.headerSeen = true;
      const head = this.read(0, Math.min(this.size, 64));
      if (head === undefined || !isElf(head)) return added;
      const hdr = parseElfHeader(head);
      if (hdr.shoff > 0 && hdr.shoff <= this.size) add(hdr.shoff - CAPTURE_WINDOW_BYTES, hdr.shoff);
    }
    this.recording = [];
    try {
      this.inspect(this);
    } finally {
      const wanted = this.recording;
      this.recording = undefined;
      for (const [start, end] of wanted) add(start, end);
    }
    return added;
  }
}
