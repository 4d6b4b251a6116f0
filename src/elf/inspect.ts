/**
 * The ELF inspector: identification, GNU and Go build ids, and debuginfod's
 * classification, from any ByteSource (a whole file, or the ranges a
 * streaming ElfCapture kept).
 *
 * The GNU build-id is looked up as libdwelf's dwelf_elf_gnu_build_id does
 * (which is what debuginfod indexes): when the file has sections, only
 * SHT_NOTE sections are searched, in index order, and the first
 * NT_GNU_BUILD_ID note with owner "GNU" wins; program headers (PT_NOTE) are
 * used only when there are no sections. That matters for separate debug
 * files, whose PT_NOTE may no longer point at the note (eu-strip -f moves
 * the note sections but keeps the program headers).
 *
 * Hostile input never throws and never loops: every offset, size and count
 * is checked against the file and capped (limits.ts).
 */
import { isDebuginfodDebuginfo, isDebuginfodExecutable } from './classify.js';
import { ReadContext } from './context.js';
import { elfType, readElfHeader, type ElfHeader, type ElfType } from './header.js';
import { MAX_NOTE_AREA_BYTES, MAX_NOTE_AREAS, MAX_NOTE_BYTES_TOTAL } from './limits.js';
import {
  GO_BUILD_ID_SECTION,
  goBuildIdText,
  isGnuBuildIdNote,
  isGoBuildIdNote,
  noteAlignment,
  parseNotes,
  type Note,
} from './notes.js';
import {
  SHF_COMPRESSED,
  SHT_NOBITS,
  SHT_NOTE,
  readSectionNames,
  readSectionTable,
  type SectionHeader,
  type SectionNames,
  type SectionTable,
} from './sections.js';
import { PT_NOTE, readProgramHeaders } from './segments.js';
import { fits, type ByteSource } from './source.js';

export { isElf } from './header.js';
export type { ByteSource } from './source.js';

export interface ElfInfo {
  elfClass: 32 | 64;
  byteOrder: 'little' | 'big';
  type: ElfType;
  machine: number;
  /** Lowercase hex, from NT_GNU_BUILD_ID (absent when the note is missing or empty). */
  gnuBuildId?: string;
  /** From .note.go.buildid (text; bytes outside printable ASCII written as \xNN), when present. */
  goBuildId?: string;
  /** debuginfod would index the file as debuginfo (always false without a GNU build-id). */
  debuginfo: boolean;
  /** debuginfod would index the file as an executable (always false without a GNU build-id). */
  executable: boolean;
  /** Set when bytes needed for a decision were unavailable (streaming capture, or a reader cap), naming what. */
  incomplete?: string;
  /** Set when the file contradicts itself (tables outside the file, bad sizes), naming what. */
  malformed?: string;
}

/** A note area: an SHT_NOTE section or a PT_NOTE segment. */
interface NoteArea {
  offset: number;
  size: number;
  align: number;
  what: string;
}

/** What one inspection may still read from note areas. */
interface NoteBudget {
  areas: number;
  bytes: number;
}

type AreaResult = { note: Note } | 'none' | 'undecided';

function searchArea(
  ctx: ReadContext,
  hdr: ElfHeader,
  area: NoteArea,
  match: (n: Note) => boolean,
  budget: NoteBudget,
): AreaResult {
  if (!fits(area.offset, area.size, ctx.size)) {
    ctx.malformed(`${area.what} lies outside the file`);
    return 'none';
  }
  if (budget.areas <= 0) {
    ctx.incomplete(`more than ${MAX_NOTE_AREAS} note areas`);
    return 'undecided';
  }
  budget.areas--;
  const length = Math.min(area.size, MAX_NOTE_AREA_BYTES, budget.bytes);
  budget.bytes -= length;
  const data = ctx.read(area.offset, length, area.what);
  if (data === undefined) return 'undecided';
  for (const note of parseNotes(data, hdr.byteOrder, noteAlignment(area.align))) {
    if (match(note)) return { note };
  }
  if (length < area.size) {
    ctx.incomplete(`${area.what}: only its first ${length} of ${area.size} bytes were examined`);
    return 'undecided';
  }
  return 'none';
}

/** Searches areas in order; stops at the first match, or at the first area whose answer is unknown. */
function searchAreas(
  ctx: ReadContext,
  hdr: ElfHeader,
  areas: Iterable<NoteArea>,
  match: (n: Note) => boolean,
  budget: NoteBudget,
): Note | 'none' | 'undecided' {
  for (const area of areas) {
    const r = searchArea(ctx, hdr, area, match, budget);
    if (r === 'undecided') return r;
    if (r !== 'none') return r.note;
  }
  return 'none';
}

function* sectionNoteAreas(table: SectionTable): Generator<NoteArea> {
  // elf_nextscn starts at section 1. Compressed note data is not notes to libelf (ELF_T_CHDR).
  for (let i = 1; i < table.sections.length; i++) {
    const s = table.sections[i]!;
    if (s.type !== SHT_NOTE || (s.flags & SHF_COMPRESSED) !== 0) continue;
    yield { offset: s.offset, size: s.size, align: s.addralign, what: `note section ${i}` };
  }
}

function segmentNoteAreas(ctx: ReadContext, hdr: ElfHeader, table: SectionTable): NoteArea[] | undefined {
  const phdrs = readProgramHeaders(ctx, hdr, table.sections[0]);
  if (phdrs === undefined) return undefined;
  return phdrs
    .filter((p) => p.type === PT_NOTE)
    .map((p) => ({ offset: p.offset, size: p.filesz, align: p.align, what: `PT_NOTE segment ${p.index}` }));
}

/** The first section named .note.go.buildid; 'unknown' when names were missing and none matched. */
function findGoSection(table: SectionTable, names: SectionNames): SectionHeader | 'none' | 'unknown' {
  let unknown = false;
  for (let i = 1; i < table.sections.length; i++) {
    const s = table.sections[i]!;
    const name = names.name(s);
    if (name === 'unknown') unknown = true;
    else if (name !== 'invalid' && name.name === GO_BUILD_ID_SECTION) return s;
  }
  return unknown || table.count > table.sections.length ? 'unknown' : 'none';
}

/**
 * Tells the source which note sections a later attempt may read: the next
 * area of the GNU search, or the Go section once names are known. A
 * streaming capture then keeps them as they pass, whatever their order in
 * the file. Bounded like the reads themselves.
 */
function wantNoteSections(ctx: ReadContext, table: SectionTable): void {
  let areas = MAX_NOTE_AREAS;
  let bytes = MAX_NOTE_BYTES_TOTAL;
  for (const area of sectionNoteAreas(table)) {
    if (areas-- <= 0 || bytes <= 0) break;
    const length = Math.min(area.size, MAX_NOTE_AREA_BYTES, bytes);
    bytes -= length;
    ctx.want(area.offset, length);
  }
}

function examine(ctx: ReadContext, hdr: ElfHeader, info: ElfInfo): void {
  if (hdr.truncated) {
    ctx.malformed('the ELF header is truncated');
    return;
  }
  const table = readSectionTable(ctx, hdr);
  if (table === undefined || table === 'rejected') return;
  const hasSections = table.count > 1; // elf_nextscn (elf, NULL) finds section 1
  const budget: NoteBudget = { areas: MAX_NOTE_AREAS, bytes: MAX_NOTE_BYTES_TOTAL };
  let names: SectionNames | undefined;
  const sectionNames = (): SectionNames => (names ??= readSectionNames(ctx, table));
  // Without sections, both ids come from PT_NOTE segments (undefined: the program headers were not available).
  const segmentAreas = hasSections ? [] : segmentNoteAreas(ctx, hdr, table);

  // GNU build-id, as dwelf_elf_gnu_build_id finds it.
  let gnu: Note | 'none' | 'undecided';
  if (hasSections) {
    gnu = searchAreas(ctx, hdr, sectionNoteAreas(table), isGnuBuildIdNote, budget);
    if (gnu === 'none' && table.count > table.sections.length) gnu = 'undecided';
  } else {
    gnu = segmentAreas === undefined ? 'undecided' : searchAreas(ctx, hdr, segmentAreas, isGnuBuildIdNote, budget);
  }

  // Go build id: the section .note.go.buildid, or PT_NOTE when there are no sections.
  let go: Note | 'none' | 'undecided' = 'none';
  if (hasSections) {
    const s = findGoSection(table, sectionNames());
    if (s === 'unknown') go = 'undecided';
    else if (s !== 'none' && s.type !== SHT_NOBITS) {
      const area = { offset: s.offset, size: s.size, align: s.addralign, what: GO_BUILD_ID_SECTION };
      go = searchAreas(ctx, hdr, [area], isGoBuildIdNote, budget);
    }
  } else {
    go = segmentAreas === undefined ? 'undecided' : searchAreas(ctx, hdr, segmentAreas, isGoBuildIdNote, budget);
  }
  if (typeof go === 'object') info.goBuildId = goBuildIdText(go.desc);
  if (hasSections && (gnu === 'undecided' || go === 'undecided')) wantNoteSections(ctx, table);
  if (go === 'undecided') ctx.incomplete('whether there is a Go build id');

  if (gnu === 'undecided') {
    ctx.incomplete('the GNU build-id');
    return;
  }
  if (gnu === 'none') return;
  if (gnu.desc.length === 0) {
    // dwelf_elf_gnu_build_id returns 0: debuginfod does not index the file.
    ctx.malformed('the GNU build-id note is empty');
    return;
  }
  info.gnuBuildId = gnu.desc.toString('hex');

  info.executable = isDebuginfodExecutable(hdr.eType, table.sections);
  // elf_getshdrstrndx failing makes debuginfod give up on debuginfo (the exception is caught after
  // executable_p is set).
  if (table.shstrndx !== undefined && hasSections) {
    const debuginfo = isDebuginfodDebuginfo(table.sections, sectionNames());
    if (debuginfo === 'unknown') ctx.incomplete('section names (for the debuginfo test)');
    info.debuginfo = debuginfo === true;
  }
}

export function inspectElf(src: ByteSource): ElfInfo | undefined {
  const hdr = readElfHeader(src);
  if (hdr === undefined) return undefined;
  const info: ElfInfo = {
    elfClass: hdr.elfClass,
    byteOrder: hdr.byteOrder,
    type: elfType(hdr.eType),
    machine: hdr.machine,
    debuginfo: false,
    executable: false,
  };
  const ctx = new ReadContext(src);
  try {
    examine(ctx, hdr, info);
  } catch (err) {
    // Not expected: every read is bounds-checked. Keep the promise not to throw.
    ctx.malformed(`unexpected error: ${err instanceof Error ? err.message : String(err)}`);
    info.debuginfo = false;
    info.executable = false;
  }
  const incomplete = ctx.incompleteText;
  const malformed = ctx.malformedText;
  if (incomplete !== undefined) info.incomplete = incomplete;
  if (malformed !== undefined) info.malformed = malformed;
  return info;
}

/**
 * The GNU build-id as the PT_NOTE segments give it, without the section
 * headers (which sit at the end of the file): what the first bytes of a file
 * tell. debuginfod reads the note through the sections instead, and in a
 * separate debug file the program headers may no longer point at it
 * (eu-strip -f), so this is only a quick answer that callers confirm by
 * other means (an estrip link naming the same id) or overrule by inspectElf.
 */
export function gnuBuildIdFromSegments(src: ByteSource): string | undefined {
  try {
    const hdr = readElfHeader(src);
    if (hdr === undefined || hdr.truncated) return undefined;
    const ctx = new ReadContext(src);
    const areas = segmentNoteAreas(ctx, hdr, { sections: [], count: 0, shstrndx: undefined });
    if (areas === undefined) return undefined;
    const note = searchAreas(ctx, hdr, areas, isGnuBuildIdNote, { areas: MAX_NOTE_AREAS, bytes: MAX_NOTE_BYTES_TOTAL });
    return typeof note === 'object' && note.desc.length > 0 ? note.desc.toString('hex') : undefined;
  } catch {
    return undefined;
  }
}
