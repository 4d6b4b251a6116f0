/**
 * The modules (executable, shared libraries, vDSO) of a process, from its
 * core: found as libdwfl's dwfl_core_file_report finds them, by an ELF
 * header at the start of a mapping in the dumped memory (the kernel dumps
 * the first page of every ELF file mapping: coredump_filter bit 4, on by
 * default). The mapping's name comes from NT_FILE, the load bias from the
 * module's own program headers, and its GNU build-id and FDO package note
 * from its PT_NOTE segments, read from the dumped memory.
 *
 * A mapped file whose first page is not in the core still becomes a module
 * (headerInCore false) when it looks like code: the caller may read its
 * build-id from the file on disk.
 */
import { ReadContext } from './context.js';
import { type CoreFile, CoreMemory, AT_PHDR, AT_SYSINFO_EHDR } from './core.js';
import { ET_DYN, ET_EXEC, RECORD_SIZES, isElf, parseElfHeader } from './header.js';
import { MAX_CORE_MODULES, MAX_NOTE_AREA_BYTES, MAX_NOTE_AREAS } from './limits.js';
import { isGnuBuildIdNote, noteAlignment, parseNotes, type Note } from './notes.js';
import { PF_X, PT_LOAD, PT_NOTE, readProgramHeaders } from './segments.js';
import type { ByteSource } from './source.js';

/** The FDO packaging metadata note (https://systemd.io/ELF_PACKAGE_METADATA/). */
export const NT_FDO_PACKAGING_METADATA = 0xcafe1a7e;
const FDO_OWNER = Buffer.from('FDO\0', 'latin1');
const PACKAGE_NOTE_MAX_BYTES = 4096;
const PAGE = 4096;

export type ModuleKind = 'main' | 'library' | 'vdso';

/** The FDO package note's JSON: string fields only, as systemd-coredump shows them. */
export type PackageNote = Record<string, string>;

export interface CoreModule {
  kind: ModuleKind;
  /** Where it is mapped: [start, end). */
  start: number;
  end: number;
  /** The NT_FILE name of the mapping at `start` (as written; may end in " (deleted)"). */
  path?: string;
  /** GNU build-id, lowercase hex, read from the core's memory. */
  buildId?: string;
  /** Address of the build-id note's descriptor (what eu-unstrip prints after '@'). */
  buildIdAddress?: number;
  /** False when the core lacks the module's ELF header page (build-id only from the file on disk). */
  headerInCore: boolean;
  /** The module's build-id note is in a segment that was not dumped. */
  noteNotDumped?: boolean;
  /** From .note.package, when present. */
  package?: PackageNote;
  /** What was odd about the module's headers, if anything. */
  malformed?: string;
}

/** The modules of a core, ordered by address. */
export function coreModules(core: CoreFile, src: ByteSource): CoreModule[] {
  const mem = new CoreMemory(core, src);
  const vdso = core.auxv.get(AT_SYSINFO_EHDR);
  const mainPhdr = core.auxv.get(AT_PHDR);
  const out: CoreModule[] = [];
  const seen = new Set<number>();

  const nameAt = (addr: number): string | undefined => core.files.find((f) => f.start <= addr && addr < f.end)?.path;
  const tryBase = (base: number, fallbackEnd?: number, looksLikeCode = false): void => {
    if (seen.has(base) || out.length >= MAX_CORE_MODULES) return;
    seen.add(base);
    const module = moduleAt(mem, base);
    if (module === 'not-elf') return;
    const path = nameAt(base);
    if (module === 'not-dumped') {
      if (!looksLikeCode) return;
      out.push({ kind: 'library', start: base, end: fallbackEnd ?? base + PAGE, path, headerInCore: false });
      return;
    }
    out.push({ ...module, kind: base === vdso ? 'vdso' : 'library', ...(path !== undefined ? { path } : {}) });
  };

  // Mappings of a file from its offset 0, each with the extent of the run of mappings that follows.
  const files = core.files;
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    if (f.fileOffset !== 0) continue;
    let end = f.end;
    for (let j = i + 1; j < files.length && files[j]!.path === f.path && files[j]!.fileOffset !== 0; j++) {
      end = Math.max(end, files[j]!.end);
    }
    tryBase(f.start, end, looksLikeCode(core, f.path, f.start, end, mainPhdr));
  }
  if (vdso !== undefined) tryBase(vdso);
  // Modules NT_FILE does not name (a core without it): any segment that starts with an ELF header.
  for (const s of core.segments) {
    if (out.some((m) => m.start <= s.vaddr && s.vaddr < m.end)) continue;
    tryBase(s.vaddr);
  }
  for (const m of out) {
    if (mainPhdr !== undefined && m.kind !== 'vdso' && m.start <= mainPhdr && mainPhdr < m.end) m.kind = 'main';
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Executable code, a shared object's name, or the main program: worth a look on disk. */
function looksLikeCode(core: CoreFile, path: string, start: number, end: number, mainPhdr?: number): boolean {
  if (mainPhdr !== undefined && start <= mainPhdr && mainPhdr < end) return true;
  if (/\.so(\.[0-9]+)*( \(deleted\))?$/.test(path)) return true;
  return core.segments.some((s) => (s.flags & PF_X) !== 0 && s.vaddr < end && start < s.vaddr + s.memsz);
}

type Found = Omit<CoreModule, 'kind' | 'path'>;

/** The module whose ELF header is at `base`, read from the dumped memory. */
function moduleAt(mem: CoreMemory, base: number): Found | 'not-elf' | 'not-dumped' {
  const head = mem.read(base, RECORD_SIZES[64].ehdr) ?? mem.read(base, RECORD_SIZES[32].ehdr);
  if (head === undefined) return mem.dumped(base) ? 'not-elf' : 'not-dumped';
  if (!isElf(head)) return 'not-elf';
  const hdr = parseElfHeader(head);
  if (hdr.truncated || (hdr.eType !== ET_DYN && hdr.eType !== ET_EXEC)) return 'not-elf';
  // The module's file image from its offset 0, as mapped at `base`.
  const image: ByteSource = {
    size: Number.MAX_SAFE_INTEGER - base,
    read: (offset, length) => mem.read(base + offset, length),
  };
  const ctx = new ReadContext(image);
  const phdrs = readProgramHeaders(ctx, hdr, undefined);
  const found: Found = { start: base, end: base + PAGE, headerInCore: true };
  if (phdrs === undefined) {
    found.malformed = 'its program headers are not in the core';
    return found;
  }
  const loads = phdrs.filter((p) => p.type === PT_LOAD);
  const first = loads.find((p) => p.offset === 0) ?? loads[0];
  if (first === undefined) {
    found.malformed = 'it has no PT_LOAD segment';
    return found;
  }
  const bias = base - (first.vaddr - first.offset);
  const top = Math.max(...loads.map((p) => p.vaddr + p.memsz));
  if (Number.isSafeInteger(bias + top) && bias + top > base) found.end = bias + top;

  let areas = MAX_NOTE_AREAS;
  for (const p of phdrs) {
    if (p.type !== PT_NOTE || areas-- <= 0) continue;
    const at = bias + p.vaddr;
    const data = mem.read(at, Math.min(p.filesz, MAX_NOTE_AREA_BYTES));
    if (data === undefined) {
      found.noteNotDumped = true;
      continue;
    }
    for (const note of parseNotes(data, hdr.byteOrder, noteAlignment(p.align))) {
      if (found.buildId === undefined && isGnuBuildIdNote(note) && note.desc.length > 0) {
        found.buildId = note.desc.toString('hex');
        found.buildIdAddress = at + (note.desc.byteOffset - data.byteOffset);
      } else if (found.package === undefined && isPackageNote(note)) {
        const pkg = parsePackageNote(note.desc);
        if (pkg !== undefined) found.package = pkg;
      }
    }
  }
  if (found.buildId !== undefined) delete found.noteNotDumped;
  if (ctx.malformedText !== undefined) found.malformed = ctx.malformedText;
  return found;
}

function isPackageNote(note: Note): boolean {
  return note.type === NT_FDO_PACKAGING_METADATA && note.name.equals(FDO_OWNER);
}

/** The note's JSON object, string values only (a hostile note gives undefined, never throws). */
export function parsePackageNote(desc: Buffer): PackageNote | undefined {
  const nul = desc.indexOf(0);
  const text = desc.toString('utf8', 0, Math.min(nul < 0 ? desc.length : nul, PACKAGE_NOTE_MAX_BYTES));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: PackageNote = {};
  // Values may hold any character: text output goes through printable(), and JSON escapes the rest.
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v === 'string' && Object.keys(out).length < 32) out[k] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
