/**
 * The dynamic section (gABI "Dynamic Section") as far as the dynamic loader
 * needs it to find a file's libraries: DT_NEEDED, DT_SONAME, DT_RPATH,
 * DT_RUNPATH and DT_FLAGS_1, and the program interpreter (PT_INTERP).
 *
 * The dynamic array is found as ld.so and readelf find it, through PT_DYNAMIC;
 * a file without program headers falls back to its SHT_DYNAMIC section.
 * DT_STRTAB is a virtual address: through PT_DYNAMIC it is mapped to a file
 * offset by the PT_LOAD segment that holds it (p_vaddr, p_offset, p_filesz);
 * through SHT_DYNAMIC the string table is the section's sh_link.
 * A tag that ld.so keeps one of (DT_STRTAB, DT_SONAME, DT_RPATH, ...) takes
 * the last entry, as its l_info table does; DT_NEEDED entries are all kept,
 * in order. As in glibc (get-dynamic-info.h), DT_RPATH is reported even when
 * DT_RUNPATH is present; the search ignores it then (library-search.ts).
 *
 * Hostile input never throws and never loops: the array is read in chunks
 * up to DT_NULL and MAX_DYNAMIC_ENTRIES, every string is bounded by its table,
 * its segment, the file and MAX_DYNAMIC_STRING_BYTES (limits.ts).
 */
import { ReadContext } from './context.js';
import { FieldReader, type ByteOrder } from './endian.js';
import { readElfHeader, type ElfHeader } from './header.js';
import {
  MAX_DYNAMIC_ENTRIES,
  MAX_DYNAMIC_STRINGS,
  MAX_DYNAMIC_STRING_BYTES,
  MAX_DYNAMIC_STRING_BYTES_TOTAL,
  MAX_INTERP_BYTES,
} from './limits.js';
import { SHT_NOBITS, readSectionTable, type SectionTable } from './sections.js';
import { PN_XNUM, PT_DYNAMIC, PT_INTERP, PT_LOAD, readProgramHeaders, type ProgramHeader } from './segments.js';
import type { ByteSource } from './source.js';

export const DT_NULL = 0;
export const DT_NEEDED = 1;
export const DT_STRTAB = 5;
export const DT_STRSZ = 10;
export const DT_SONAME = 14;
export const DT_RPATH = 15;
export const DT_RUNPATH = 29;
export const DT_FLAGS_1 = 0x6ffffffb;
/** DT_FLAGS_1: the loader skips the default directories for this object's dependencies. */
export const DF_1_NODEFLIB = 0x800;
export const SHT_DYNAMIC = 6;

const DYN_ENTRY_SIZE = { 32: 8, 64: 16 } as const;
/** Entries read at a time: the array ends at DT_NULL, usually within the first few dozen. */
const DYN_CHUNK_ENTRIES = 256;
/** First read of a string; doubled until the NUL is found or a bound is reached. */
const STRING_FIRST_READ = 256;

export interface DynamicInfo {
  /** DT_NEEDED names, in order (duplicates kept, unreadable ones left out and noted as malformed). */
  needed: string[];
  soname?: string;
  /** DT_RUNPATH split at ':' (elements as written: empty ones and $ORIGIN unexpanded). */
  runpath?: string[];
  /** DT_RPATH split at ':' (reported even when DT_RUNPATH is present; ld.so then ignores it). */
  rpath?: string[];
  /** PT_INTERP: the program interpreter (dynamic loader) the kernel starts. */
  interpreter?: string;
  /** DT_FLAGS_1 has DF_1_NODEFLIB. */
  nodeflib?: boolean;
  /** The file has a dynamic section (PT_DYNAMIC, or SHT_DYNAMIC when there are no program headers). */
  dynamic: boolean;
  elfClass: 32 | 64;
  byteOrder: ByteOrder;
  machine: number;
  /** Set when bytes were unavailable (a partial source, or a cap of limits.ts), naming what. */
  incomplete?: string;
  /** Set when the file contradicts itself (strings outside their table, segments outside the file), naming what. */
  malformed?: string;
}

/** A range of the file that holds NUL-terminated strings. */
interface StringArea {
  offset: number;
  size: number;
  what: string;
}

interface DynamicEntries {
  needed: number[];
  /** The last value of each other tag. */
  last: Map<number, number>;
  /** The low 32 bits of DT_FLAGS_1 (a 64-bit word can exceed a double's precision; every flag is low). */
  flags1: number;
}

/** What one file may still read of dynamic strings. */
interface StringBudget {
  strings: number;
  bytes: number;
}

/** Clamps [offset, offset + size) to the file; undefined (noted as malformed) when it starts past the end. */
function clampToFile(ctx: ReadContext, offset: number, size: number, what: string): StringArea | undefined {
  if (!Number.isSafeInteger(offset) || offset > ctx.size) {
    ctx.malformed(`${what} starts past the end of the file`);
    return undefined;
  }
  if (!Number.isSafeInteger(size) || size > ctx.size - offset) {
    ctx.malformed(`${what} extends past the end of the file`);
    return { offset, size: ctx.size - offset, what };
  }
  return { offset, size, what };
}

/** Reads the dynamic array of `area` up to DT_NULL. */
function readEntries(ctx: ReadContext, hdr: ElfHeader, area: StringArea): DynamicEntries | undefined {
  const entSize = DYN_ENTRY_SIZE[hdr.elfClass];
  const available = Math.floor(area.size / entSize);
  const examined = Math.min(available, MAX_DYNAMIC_ENTRIES);
  const entries: DynamicEntries = { needed: [], last: new Map(), flags1: 0 };
  for (let first = 0; first < examined; first += DYN_CHUNK_ENTRIES) {
    const count = Math.min(DYN_CHUNK_ENTRIES, examined - first);
    const buf = ctx.read(area.offset + first * entSize, count * entSize, area.what);
    if (buf === undefined) return undefined;
    const r = new FieldReader(buf, hdr.byteOrder);
    for (let i = 0; i < count; i++) {
      const at = i * entSize;
      const tag = hdr.elfClass === 32 ? r.u32(at) : r.u64(at);
      const value = r.word(at + entSize / 2, hdr.elfClass);
      if (tag === DT_NULL) return entries;
      if (tag === DT_NEEDED) entries.needed.push(value);
      else if (tag === DT_FLAGS_1) entries.flags1 = r.wordLow32(at + entSize / 2, hdr.elfClass);
      else entries.last.set(tag, value);
    }
  }
  if (available > examined) ctx.incomplete(`only the first ${examined} entries of ${area.what} were examined`);
  else ctx.malformed(`${area.what} has no DT_NULL entry`);
  return entries;
}

/** The file range of a virtual address range, through the PT_LOAD segment that holds its start. */
function mapAddress(ctx: ReadContext, loads: readonly ProgramHeader[], addr: number, what: string) {
  for (const p of loads) {
    if (addr < p.vaddr || addr - p.vaddr >= p.filesz) continue;
    const delta = addr - p.vaddr;
    return clampToFile(ctx, p.offset + delta, p.filesz - delta, what);
  }
  ctx.malformed(`${what} (address 0x${addr.toString(16)}) is not in the file part of any PT_LOAD segment`);
  return undefined;
}

/** The NUL-terminated string at `at` in `area`; undefined (noted) when it cannot be read whole. */
function readString(ctx: ReadContext, area: StringArea, at: number, budget: StringBudget): string | undefined {
  if (at >= area.size) {
    ctx.malformed(`a dynamic string offset (${at}) lies outside ${area.what} (${area.size} bytes)`);
    return undefined;
  }
  if (budget.strings <= 0) {
    ctx.incomplete(`only the first ${MAX_DYNAMIC_STRINGS} dynamic strings were read`);
    return undefined;
  }
  budget.strings--;
  const limit = Math.min(area.size - at, MAX_DYNAMIC_STRING_BYTES);
  let length = Math.min(STRING_FIRST_READ, limit);
  for (;;) {
    if (length > budget.bytes) {
      ctx.incomplete(`only the first ${MAX_DYNAMIC_STRING_BYTES_TOTAL} bytes of dynamic strings were read`);
      return undefined;
    }
    budget.bytes -= length;
    const buf = ctx.read(area.offset + at, length, area.what);
    if (buf === undefined) return undefined;
    const end = buf.indexOf(0);
    if (end >= 0) return buf.toString('utf8', 0, end);
    if (length === limit) break;
    length = Math.min(length * 2, limit);
  }
  if (limit < area.size - at) ctx.incomplete(`a dynamic string longer than ${MAX_DYNAMIC_STRING_BYTES} bytes`);
  else ctx.malformed(`a dynamic string at offset ${at} of ${area.what} is not NUL-terminated`);
  return undefined;
}

function readInterpreter(ctx: ReadContext, phdr: ProgramHeader): string | undefined {
  const area = clampToFile(ctx, phdr.offset, phdr.filesz, 'the PT_INTERP segment');
  if (area === undefined) return undefined;
  const buf = ctx.read(area.offset, Math.min(area.size, MAX_INTERP_BYTES), area.what);
  if (buf === undefined) return undefined;
  const end = buf.indexOf(0);
  if (end >= 0) return buf.toString('utf8', 0, end);
  if (area.size > MAX_INTERP_BYTES) ctx.incomplete(`a PT_INTERP longer than ${MAX_INTERP_BYTES} bytes`);
  else ctx.malformed('the PT_INTERP segment is not NUL-terminated');
  return undefined;
}

/** Where the dynamic array and its string table lie. */
interface DynamicLayout {
  array: StringArea;
  strtab: (entries: DynamicEntries) => StringArea | undefined;
}

function layoutFromSegments(ctx: ReadContext, phdrs: readonly ProgramHeader[]): DynamicLayout | undefined {
  const dynamics = phdrs.filter((p) => p.type === PT_DYNAMIC);
  const first = dynamics[0];
  if (first === undefined) return undefined;
  if (dynamics.length > 1) ctx.malformed(`${dynamics.length} PT_DYNAMIC segments (the first is read)`);
  const array = clampToFile(ctx, first.offset, first.filesz, 'the PT_DYNAMIC segment');
  if (array === undefined) return undefined;
  const loads = phdrs.filter((p) => p.type === PT_LOAD);
  return {
    array,
    strtab(entries) {
      const addr = entries.last.get(DT_STRTAB);
      if (addr === undefined) return undefined;
      const area = mapAddress(ctx, loads, addr, 'the dynamic string table (DT_STRTAB)');
      const strsz = entries.last.get(DT_STRSZ);
      if (area !== undefined && strsz !== undefined && strsz < area.size) area.size = strsz;
      return area;
    },
  };
}

function layoutFromSections(ctx: ReadContext, table: SectionTable): DynamicLayout | undefined {
  const dyn = table.sections.find((s) => s.index > 0 && s.type === SHT_DYNAMIC);
  if (dyn === undefined) return undefined;
  const array = clampToFile(ctx, dyn.offset, dyn.size, `the SHT_DYNAMIC section ${dyn.index}`);
  if (array === undefined) return undefined;
  return {
    array,
    strtab() {
      const s = dyn.link > 0 ? table.sections[dyn.link] : undefined;
      if (s === undefined || s.type === SHT_NOBITS) {
        ctx.malformed(`the SHT_DYNAMIC section's sh_link (${dyn.link}) is not a string table in the file`);
        return undefined;
      }
      return clampToFile(ctx, s.offset, s.size, `the dynamic string table (section ${s.index})`);
    },
  };
}

function examine(ctx: ReadContext, hdr: ElfHeader, info: DynamicInfo): void {
  if (hdr.truncated) {
    ctx.malformed('the ELF header is truncated');
    return;
  }
  let table: SectionTable | 'rejected' | undefined;
  const sections = (): SectionTable | undefined => {
    table ??= readSectionTable(ctx, hdr);
    return typeof table === 'object' ? table : undefined;
  };
  // e_phnum PN_XNUM: the real count is section 0's sh_info.
  const section0 = hdr.phnum === PN_XNUM ? sections()?.sections[0] : undefined;
  const phdrs = readProgramHeaders(ctx, hdr, section0);
  if (phdrs === undefined) return;

  const interp = phdrs.find((p) => p.type === PT_INTERP);
  if (interp !== undefined) {
    const interpreter = readInterpreter(ctx, interp);
    if (interpreter !== undefined) info.interpreter = interpreter;
  }

  let layout: DynamicLayout | undefined;
  if (phdrs.length > 0) layout = layoutFromSegments(ctx, phdrs);
  else {
    const t = sections();
    if (t !== undefined) layout = layoutFromSections(ctx, t);
  }
  if (layout === undefined) return;
  info.dynamic = true;
  const entries = readEntries(ctx, hdr, layout.array);
  if (entries === undefined) return;
  if ((entries.flags1 & DF_1_NODEFLIB) !== 0) info.nodeflib = true;

  const stringTags = [DT_SONAME, DT_RPATH, DT_RUNPATH].filter((t) => entries.last.has(t));
  if (entries.needed.length === 0 && stringTags.length === 0) return;
  if (!entries.last.has(DT_STRTAB)) {
    ctx.malformed('the dynamic section names strings but has no DT_STRTAB');
    return;
  }
  const strtab = layout.strtab(entries);
  if (strtab === undefined) return;
  const budget: StringBudget = { strings: MAX_DYNAMIC_STRINGS, bytes: MAX_DYNAMIC_STRING_BYTES_TOTAL };
  const str = (at: number) => readString(ctx, strtab, at, budget);
  for (const at of entries.needed) {
    const name = str(at);
    if (name !== undefined) info.needed.push(name);
  }
  const soname = entries.last.has(DT_SONAME) ? str(entries.last.get(DT_SONAME)!) : undefined;
  if (soname !== undefined) info.soname = soname;
  const rpath = entries.last.has(DT_RPATH) ? str(entries.last.get(DT_RPATH)!) : undefined;
  if (rpath !== undefined) info.rpath = rpath.split(':');
  const runpath = entries.last.has(DT_RUNPATH) ? str(entries.last.get(DT_RUNPATH)!) : undefined;
  if (runpath !== undefined) info.runpath = runpath.split(':');
}

/**
 * The dynamic linking information of an ELF file of either class and byte
 * order; undefined when `src` is not ELF. A file without a dynamic section
 * (static executables, relocatable objects, cores) has `dynamic: false` and
 * no needed libraries.
 */
export function readDynamic(src: ByteSource): DynamicInfo | undefined {
  const hdr = readElfHeader(src);
  if (hdr === undefined) return undefined;
  const info: DynamicInfo = {
    needed: [],
    dynamic: false,
    elfClass: hdr.elfClass,
    byteOrder: hdr.byteOrder,
    machine: hdr.machine,
  };
  const ctx = new ReadContext(src);
  try {
    examine(ctx, hdr, info);
  } catch (err) {
    // Not expected: every read is bounds-checked. Keep the promise not to throw.
    ctx.malformed(`unexpected error: ${err instanceof Error ? err.message : String(err)}`);
  }
  const incomplete = ctx.incompleteText;
  const malformed = ctx.malformedText;
  if (incomplete !== undefined) info.incomplete = incomplete;
  if (malformed !== undefined) info.malformed = malformed;
  return info;
}
