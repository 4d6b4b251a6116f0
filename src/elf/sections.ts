/**
 * The section header table and section names (via the section header string
 * table). Counting follows libelf (elf_begin.c get_shnum, elf_getshdrstrndx,
 * elf_strptr), since debuginfod sees a file through it:
 *  - e_shnum 0 with e_shoff set: the count is section 0's sh_size
 *    (ELF64: above 2^32 - 1, libelf refuses the file);
 *  - a table that does not fit in the file counts as no sections at all;
 *  - e_shstrndx SHN_XINDEX: the index is section 0's sh_link;
 *  - a name resolves only in an SHT_STRTAB section, at an offset below its
 *    size, with a NUL before the section's end.
 */
import type { ReadContext } from './context.js';
import { FieldReader } from './endian.js';
import { RECORD_SIZES, type ElfHeader } from './header.js';
import { MAX_SECTIONS, MAX_STRTAB_BYTES } from './limits.js';
import { fits } from './source.js';

export const SHT_PROGBITS = 1;
export const SHT_STRTAB = 3;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHF_ALLOC = 0x2;
export const SHF_COMPRESSED = 0x800;
export const SHN_XINDEX = 0xffff;

export interface SectionHeader {
  index: number;
  /** sh_name: offset of the name in the section header string table. */
  nameOffset: number;
  type: number;
  /** The low 32 bits of sh_flags (every flag tested here lives there). */
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
}

export interface SectionTable {
  /** The entries read, section 0 included (at most MAX_SECTIONS). */
  sections: SectionHeader[];
  /** How many entries the file has (libelf's count); more than sections.length when capped. */
  count: number;
  /** Index of the section name table; undefined when libelf could not tell (SHN_XINDEX without sections). */
  shstrndx: number | undefined;
}

function parseSection(r: FieldReader, at: number, elfClass: 32 | 64, index: number): SectionHeader {
  if (elfClass === 32) {
    return {
      index,
      nameOffset: r.u32(at),
      type: r.u32(at + 4),
      flags: r.u32(at + 8),
      offset: r.u32(at + 16),
      size: r.u32(at + 20),
      link: r.u32(at + 24),
      info: r.u32(at + 28),
      addralign: r.u32(at + 32),
    };
  }
  return {
    index,
    nameOffset: r.u32(at),
    type: r.u32(at + 4),
    flags: r.wordLow32(at + 8, 64),
    offset: r.u64(at + 24),
    size: r.u64(at + 32),
    link: r.u32(at + 40),
    info: r.u32(at + 44),
    addralign: r.u64(at + 48),
  };
}

/**
 * Reads the section header table. Returns 'rejected' when libelf would refuse
 * the whole file, undefined when the source lacks the table (noted on ctx).
 */
export function readSectionTable(ctx: ReadContext, hdr: ElfHeader): SectionTable | 'rejected' | undefined {
  const entSize = RECORD_SIZES[hdr.elfClass].shdr;
  let count = hdr.shnum;
  let zero: SectionHeader | undefined;
  if (count === 0 && hdr.shoff !== 0) {
    // Extended numbering: the real count is in section 0.
    if (!fits(hdr.shoff, entSize, ctx.size)) {
      ctx.malformed('section header table starts past the end of the file');
      return { sections: [], count: 0, shstrndx: hdr.shstrndx === SHN_XINDEX ? undefined : hdr.shstrndx };
    }
    const buf = ctx.read(hdr.shoff, entSize, 'section header 0');
    if (buf === undefined) return undefined;
    zero = parseSection(new FieldReader(buf, hdr.byteOrder), 0, hdr.elfClass, 0);
    count = zero.size;
    if (hdr.elfClass === 64 && count > 0xffffffff) {
      ctx.malformed('section count in section 0 is larger than 2^32 - 1');
      return 'rejected';
    }
  }
  if (count > 0 && (hdr.shoff > ctx.size || count * entSize > ctx.size - hdr.shoff)) {
    ctx.malformed(`section header table (${count} entries at offset ${hdr.shoff}) extends past the end of the file`);
    count = 0;
  }
  if (count > 0 && hdr.shentsize !== entSize) {
    ctx.malformed(`e_shentsize is ${hdr.shentsize}, not ${entSize}`);
  }
  const examined = Math.min(count, MAX_SECTIONS);
  if (count > examined) ctx.incomplete(`only the first ${examined} of ${count} section headers were examined`);
  const sections: SectionHeader[] = [];
  if (examined > 0) {
    const buf = ctx.read(hdr.shoff, examined * entSize, 'section header table');
    if (buf === undefined) return undefined;
    const r = new FieldReader(buf, hdr.byteOrder);
    for (let i = 0; i < examined; i++) sections.push(parseSection(r, i * entSize, hdr.elfClass, i));
  }
  let shstrndx: number | undefined = hdr.shstrndx;
  if (hdr.shstrndx === SHN_XINDEX) {
    const first = sections[0] ?? zero;
    shstrndx = count > 0 && first !== undefined ? first.link : undefined;
  }
  return { sections, count, shstrndx };
}

/**
 * A section's name; 'invalid' where libelf's elf_strptr fails, 'unknown'
 * where the bytes it takes were not available.
 */
export interface SectionNames {
  name(section: SectionHeader): { name: string } | 'invalid' | 'unknown';
}

/** Resolves section names through the section header string table. */
export function readSectionNames(ctx: ReadContext, table: SectionTable): SectionNames {
  const invalid: SectionNames = { name: () => 'invalid' };
  const unknown: SectionNames = { name: () => 'unknown' };
  const idx = table.shstrndx;
  if (idx === undefined) return invalid;
  if (idx >= table.count) return invalid;
  const strtab = table.sections[idx];
  if (strtab === undefined) return unknown; // beyond the capped table
  if (strtab.type !== SHT_STRTAB) return invalid;
  if ((strtab.flags & SHF_COMPRESSED) !== 0) {
    ctx.incomplete('the section name table is compressed (not supported)');
    return unknown;
  }
  if (!fits(strtab.offset, strtab.size, ctx.size)) {
    ctx.malformed('the section name table lies outside the file');
    return invalid;
  }
  const length = Math.min(strtab.size, MAX_STRTAB_BYTES);
  const data = ctx.read(strtab.offset, length, 'section name table (.shstrtab)');
  if (data === undefined) return unknown;
  const capped = length < strtab.size;
  return {
    name(section) {
      const at = section.nameOffset;
      if (at >= strtab.size) return 'invalid';
      if (at >= length) return 'unknown';
      const end = data.indexOf(0, at);
      if (end < 0) return capped ? 'unknown' : 'invalid';
      return { name: data.toString('latin1', at, end) };
    },
  };
}
