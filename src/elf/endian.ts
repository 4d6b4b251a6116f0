/**
 * Reading ELF fields in the file's byte order. Callers bounds-check the
 * record first; 64-bit fields become JS numbers (values of 2^53 and above
 * lose precision but stay at least 2^53, so they still fail every
 * in-file bounds check).
 */

export type ByteOrder = 'little' | 'big';

export class FieldReader {
  constructor(
    readonly buf: Buffer,
    readonly order: ByteOrder,
  ) {}

  u16(at: number): number {
    return this.order === 'little' ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
  }

  u32(at: number): number {
    return this.order === 'little' ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }

  u64(at: number): number {
    return Number(this.order === 'little' ? this.buf.readBigUInt64LE(at) : this.buf.readBigUInt64BE(at));
  }

  /** A word of the class's size: 4 bytes in ELF32, 8 in ELF64. */
  word(at: number, elfClass: 32 | 64): number {
    return elfClass === 32 ? this.u32(at) : this.u64(at);
  }

  /** The low 32 bits of a class-sized word (flags: only low bits are tested). */
  wordLow32(at: number, elfClass: 32 | 64): number {
    if (elfClass === 32) return this.u32(at);
    return this.order === 'little' ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at + 4);
  }
}
