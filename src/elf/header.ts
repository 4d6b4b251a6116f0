/**
 * ELF identification and the ELF32/ELF64 file header, either byte order
 * (System V gABI, "ELF Header").
 */
import { FieldReader, type ByteOrder } from './endian.js';
import type { ByteSource } from './source.js';

export const EI_NIDENT = 16;
const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ELFDATA2MSB = 2;
const EV_CURRENT = 1;

export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

export type ElfType = 'rel' | 'exec' | 'dyn' | 'core' | 'other';

/** Sizes of the fixed records of each class. */
export const RECORD_SIZES = {
  32: { ehdr: 52, shdr: 40, phdr: 32 },
  64: { ehdr: 64, shdr: 64, phdr: 56 },
} as const;

/**
 * True when `head` (the first bytes of a file, at least 16) starts with an
 * ELF identification libelf accepts: the magic, a known class and byte order,
 * and EI_VERSION 1. Anything else is not ELF to debuginfod either.
 */
export function isElf(head: Buffer): boolean {
  return (
    head.length >= EI_NIDENT &&
    head[0] === 0x7f &&
    head[1] === 0x45 && // E
    head[2] === 0x4c && // L
    head[3] === 0x46 && // F
    (head[4] === ELFCLASS32 || head[4] === ELFCLASS64) &&
    (head[5] === ELFDATA2LSB || head[5] === ELFDATA2MSB) &&
    head[6] === EV_CURRENT
  );
}

export interface ElfHeader {
  elfClass: 32 | 64;
  byteOrder: ByteOrder;
  /** e_type as read (0 when the header is truncated before it). */
  eType: number;
  machine: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
  /** True when the file ends inside the header: the fields after the end read as 0. */
  truncated: boolean;
}

export function elfType(eType: number): ElfType {
  switch (eType) {
    case ET_REL:
      return 'rel';
    case ET_EXEC:
      return 'exec';
    case ET_DYN:
      return 'dyn';
    case ET_CORE:
      return 'core';
    default:
      return 'other';
  }
}

/**
 * Decodes the file header from the first bytes of a file (`isElf(head)` must
 * hold). A short `head` is zero-extended and reported as truncated.
 */
export function parseElfHeader(head: Buffer): ElfHeader {
  const elfClass = head[4] === ELFCLASS32 ? 32 : 64;
  const byteOrder: ByteOrder = head[5] === ELFDATA2LSB ? 'little' : 'big';
  const size = RECORD_SIZES[elfClass].ehdr;
  const truncated = head.length < size;
  const buf = Buffer.alloc(size);
  head.copy(buf, 0, 0, Math.min(size, head.length));
  const r = new FieldReader(buf, byteOrder);
  const common = { elfClass, byteOrder, eType: r.u16(16), machine: r.u16(18), truncated } as const;
  if (elfClass === 32) {
    return {
      ...common,
      phoff: r.u32(28),
      shoff: r.u32(32),
      phentsize: r.u16(42),
      phnum: r.u16(44),
      shentsize: r.u16(46),
      shnum: r.u16(48),
      shstrndx: r.u16(50),
    };
  }
  return {
    ...common,
    phoff: r.u64(32),
    shoff: r.u64(40),
    phentsize: r.u16(54),
    phnum: r.u16(56),
    shentsize: r.u16(58),
    shnum: r.u16(60),
    shstrndx: r.u16(62),
  };
}

/**
 * The file header of `src`, read from its first bytes; undefined when the
 * source is not ELF (or cannot give those bytes). Never throws.
 */
export function readElfHeader(src: ByteSource): ElfHeader | undefined {
  let head: Buffer | undefined;
  try {
    if (!Number.isSafeInteger(src.size) || src.size < EI_NIDENT) return undefined;
    head = src.read(0, Math.min(src.size, RECORD_SIZES[64].ehdr));
  } catch {
    return undefined;
  }
  return head !== undefined && isElf(head) ? parseElfHeader(head) : undefined;
}
