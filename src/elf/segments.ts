/**
 * The program header table. Counting follows libelf (elf_getphdrnum):
 * e_phnum PN_XNUM defers to section 0's sh_info, and a table that runs past
 * the end of the file is cut to the entries that fit.
 */
import type { ReadContext } from './context.js';
import { FieldReader } from './endian.js';
import { RECORD_SIZES, type ElfHeader } from './header.js';
import { MAX_SEGMENTS } from './limits.js';
import type { SectionHeader } from './sections.js';

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PF_X = 1;
export const PN_XNUM = 0xffff;

export interface ProgramHeader {
  index: number;
  type: number;
  offset: number;
  /** p_vaddr: where the segment's first byte is mapped (relative to the load base for ET_DYN). */
  vaddr: number;
  filesz: number;
  memsz: number;
  flags: number;
  align: number;
}

/** Reads the program header table; undefined when the source lacks it (noted on ctx). */
export function readProgramHeaders(
  ctx: ReadContext,
  hdr: ElfHeader,
  section0: Pick<SectionHeader, 'info'> | undefined,
): ProgramHeader[] | undefined {
  const entSize = RECORD_SIZES[hdr.elfClass].phdr;
  let count = hdr.phnum;
  if (count === PN_XNUM && section0 !== undefined) count = section0.info;
  if (count === 0) return [];
  if (hdr.phoff >= ctx.size || ctx.size - hdr.phoff < entSize) {
    ctx.malformed('program header table starts past the end of the file');
    return [];
  }
  const fitting = Math.floor((ctx.size - hdr.phoff) / entSize);
  if (count > fitting) {
    ctx.malformed(`program header table (${count} entries) extends past the end of the file`);
    count = fitting;
  }
  if (hdr.phentsize !== entSize) ctx.malformed(`e_phentsize is ${hdr.phentsize}, not ${entSize}`);
  if (count > MAX_SEGMENTS) {
    ctx.incomplete(`only the first ${MAX_SEGMENTS} of ${count} program headers were examined`);
    count = MAX_SEGMENTS;
  }
  const buf = ctx.read(hdr.phoff, count * entSize, 'program header table');
  if (buf === undefined) return undefined;
  const r = new FieldReader(buf, hdr.byteOrder);
  const out: ProgramHeader[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * entSize;
    const type = r.u32(at);
    if (hdr.elfClass === 32) {
      out.push({
        index: i,
        type,
        offset: r.u32(at + 4),
        vaddr: r.u32(at + 8),
        filesz: r.u32(at + 16),
        memsz: r.u32(at + 20),
        flags: r.u32(at + 24),
        align: r.u32(at + 28),
      });
    } else {
      out.push({
        index: i,
        type,
        flags: r.u32(at + 4),
        offset: r.u64(at + 8),
        vaddr: r.u64(at + 16),
        filesz: r.u64(at + 32),
        memsz: r.u64(at + 40),
        align: r.u64(at + 48),
      });
    }
  }
  return out;
}
