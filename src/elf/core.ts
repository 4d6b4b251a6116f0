/**
 * ELF core files (ET_CORE), as the Linux kernel and gdb's gcore write them:
 * the PT_LOAD segments (process memory; a segment's bytes past p_filesz
 * were not dumped), and the notes of the PT_NOTE segments that tell which
 * files were mapped where (NT_FILE), the auxiliary vector (NT_AUXV: where
 * the vDSO and the program headers of the executable are), the process
 * (NT_PRPSINFO, NT_PRSTATUS) and the signal (NT_SIGINFO).
 *
 * Either class and byte order; hostile input never throws or loops: every
 * count is checked against the bytes that hold it and capped (limits.ts).
 */
import { ReadContext } from './context.js';
import { FieldReader, type ByteOrder } from './endian.js';
import { ET_CORE, RECORD_SIZES, parseElfHeader, readElfHeader } from './header.js';
import { MAX_CORE_NOTE_BYTES, MAX_MAPPED_FILES, MAX_PATH_BYTES } from './limits.js';
import { noteAlignment, parseNotes, type Note } from './notes.js';
import { PN_XNUM, PT_LOAD, PT_NOTE, readProgramHeaders } from './segments.js';
import type { ByteSource } from './source.js';

export const NT_PRSTATUS = 1;
export const NT_PRPSINFO = 3;
export const NT_AUXV = 6;
export const NT_SIGINFO = 0x53494749;
export const NT_FILE = 0x46494c45;
export const AT_PHDR = 3;
export const AT_ENTRY = 9;
export const AT_EXECFN = 31;
export const AT_SYSINFO_EHDR = 33;

const CORE_OWNER = Buffer.from('CORE\0', 'latin1');

/** One PT_LOAD segment: `memsz` bytes of memory at `vaddr`, of which the first `filesz` are in the core at `offset`. */
export interface CoreSegment {
  vaddr: number;
  memsz: number;
  offset: number;
  filesz: number;
  /** p_flags (PF_X 1, PF_W 2, PF_R 4). */
  flags: number;
}

/** One file mapping of NT_FILE: [start, end) maps the file from `fileOffset` (bytes). */
export interface MappedFile {
  start: number;
  end: number;
  fileOffset: number;
  /** As the kernel wrote it (` (deleted)` appended for an unlinked file). Never trusted as a path to write. */
  path: string;
}

export interface CoreProcess {
  pid?: number;
  /** pr_fname: the command's first 15 bytes. */
  command?: string;
  /** pr_psargs: the first 79 bytes of the command line. */
  args?: string;
  /** The fatal signal (NT_SIGINFO's si_signo, else NT_PRSTATUS's pr_cursig); 0 for gcore of a live process. */
  signal?: number;
}

export interface CoreFile {
  elfClass: 32 | 64;
  byteOrder: ByteOrder;
  machine: number;
  segments: CoreSegment[];
  /** NT_FILE entries in note order; empty when the core has none (old kernels, some dumpers). */
  files: MappedFile[];
  /** The auxiliary vector (a_type → a_val), first value of each type. */
  auxv: Map<number, number>;
  process: CoreProcess;
  malformed?: string;
  incomplete?: string;
}

/** What readCore tells about a file that is not a core. */
export type NotCore = { notCore: 'not-elf' } | { notCore: 'not-core'; type: number };

/** Reads a core's segments and notes; `notCore` when the file is not an ELF core. */
export function readCore(src: ByteSource): CoreFile | NotCore {
  const hdr = readElfHeader(src);
  if (hdr === undefined) return { notCore: 'not-elf' };
  if (hdr.eType !== ET_CORE) return { notCore: 'not-core', type: hdr.eType };
  const ctx = new ReadContext(src);
  const core: CoreFile = {
    elfClass: hdr.elfClass,
    byteOrder: hdr.byteOrder,
    machine: hdr.machine,
    segments: [],
    files: [],
    auxv: new Map(),
    process: {},
  };
  try {
    if (hdr.truncated) ctx.malformed('the ELF header is truncated');
    else {
      const section0 = hdr.phnum === PN_XNUM ? { info: readSection0Info(ctx, hdr) ?? 0 } : undefined;
      const phdrs = readProgramHeaders(ctx, hdr, section0) ?? [];
      let noteBytes = MAX_CORE_NOTE_BYTES;
      for (const p of phdrs) {
        if (p.type === PT_LOAD) {
          core.segments.push({ vaddr: p.vaddr, memsz: p.memsz, offset: p.offset, filesz: p.filesz, flags: p.flags });
        } else if (p.type === PT_NOTE && noteBytes > 0) {
          const length = Math.min(p.filesz, noteBytes);
          noteBytes -= length;
          if (length < p.filesz) ctx.incomplete(`only ${MAX_CORE_NOTE_BYTES} bytes of notes were examined`);
          const data = ctx.read(p.offset, length, `PT_NOTE segment ${p.index}`);
          if (data !== undefined) readCoreNotes(ctx, core, data, noteAlignment(p.align));
        }
      }
      core.segments.sort((a, b) => a.vaddr - b.vaddr);
    }
  } catch (err) {
    ctx.malformed(`unexpected error: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (ctx.malformedText !== undefined) core.malformed = ctx.malformedText;
  if (ctx.incompleteText !== undefined) core.incomplete = ctx.incompleteText;
  return core;
}

/** sh_info of section 0, where extended numbering keeps e_phnum. */
function readSection0Info(ctx: ReadContext, hdr: ReturnType<typeof parseElfHeader>): number | undefined {
  const size = RECORD_SIZES[hdr.elfClass].shdr;
  const buf = ctx.read(hdr.shoff, size, 'section header 0');
  if (buf === undefined) return undefined;
  return new FieldReader(buf, hdr.byteOrder).u32(hdr.elfClass === 32 ? 28 : 44);
}

function readCoreNotes(ctx: ReadContext, core: CoreFile, data: Buffer, align: 4 | 8): void {
  for (const note of parseNotes(data, core.byteOrder, align)) {
    if (!note.name.equals(CORE_OWNER)) continue;
    switch (note.type) {
      case NT_FILE:
        if (core.files.length === 0) core.files = parseFileNote(ctx, core, note);
        break;
      case NT_AUXV:
        if (core.auxv.size === 0) core.auxv = parseAuxv(core, note.desc);
        break;
      case NT_PRPSINFO:
        parsePrpsinfo(core, note.desc);
        break;
      case NT_PRSTATUS:
        parsePrstatus(core, note.desc);
        break;
      case NT_SIGINFO:
        if (note.desc.length >= 4) core.process.signal = new FieldReader(note.desc, core.byteOrder).u32(0);
        break;
    }
  }
}

/**
 * NT_FILE (linux/fs/binfmt_elf.c fill_files_note): count and page size, then
 * count × {start, end, file offset in pages}, then count NUL-terminated
 * names. The count is believed only as far as the descriptor holds it.
 */
export function parseFileNote(
  ctx: ReadContext,
  core: Pick<CoreFile, 'elfClass' | 'byteOrder'>,
  note: Note,
): MappedFile[] {
  const w = core.elfClass / 8;
  const desc = note.desc;
  if (desc.length < 2 * w) {
    ctx.malformed('NT_FILE note is too short');
    return [];
  }
  const r = new FieldReader(desc, core.byteOrder);
  const claimed = r.word(0, core.elfClass);
  const pageSize = r.word(w, core.elfClass);
  const fitting = Math.floor((desc.length - 2 * w) / (3 * w));
  let count = claimed;
  if (count > fitting) {
    ctx.malformed(`NT_FILE note claims ${claimed} mappings but holds at most ${fitting}`);
    count = fitting;
  }
  if (count > MAX_MAPPED_FILES) {
    ctx.incomplete(`only the first ${MAX_MAPPED_FILES} of ${count} mapped files were examined`);
    count = MAX_MAPPED_FILES;
  }
  const out: MappedFile[] = [];
  // The names follow all `claimed` entries; when those do not fit, no name can be placed.
  let names = claimed <= fitting ? 2 * w + 3 * w * claimed : desc.length;
  for (let i = 0; i < count; i++) {
    const at = 2 * w + 3 * w * i;
    const start = r.word(at, core.elfClass);
    const end = r.word(at + w, core.elfClass);
    const pages = r.word(at + 2 * w, core.elfClass);
    let path = '';
    if (names < desc.length) {
      const nul = desc.indexOf(0, names);
      const stop = nul < 0 ? desc.length : nul;
      path = desc.toString('utf8', names, Math.min(stop, names + MAX_PATH_BYTES));
      names = stop + 1;
    } else if (claimed <= fitting) {
      ctx.malformed('NT_FILE note ends before its file names');
    }
    const fileOffset = pages * pageSize;
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(end) ||
      end <= start ||
      !Number.isSafeInteger(fileOffset)
    ) {
      ctx.malformed(`NT_FILE mapping ${i} has an impossible range`);
      continue;
    }
    out.push({ start, end, fileOffset, path });
  }
  return out;
}

function parseAuxv(core: CoreFile, desc: Buffer): Map<number, number> {
  const w = core.elfClass / 8;
  const r = new FieldReader(desc, core.byteOrder);
  const out = new Map<number, number>();
  for (let at = 0; at + 2 * w <= desc.length && out.size < 256; at += 2 * w) {
    const type = r.word(at, core.elfClass);
    if (type === 0) break; // AT_NULL
    if (!out.has(type)) out.set(type, r.word(at + w, core.elfClass));
  }
  return out;
}

/** A fixed-size C string field: up to the first NUL, printable bytes only. */
function cString(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf
    .toString('latin1', 0, nul < 0 ? buf.length : nul)
    .replace(/[^\x20-\x7e]/g, '?')
    .trimEnd();
}

/** pr_fname[16] and pr_psargs[80] end struct elf_prpsinfo on every architecture. */
function parsePrpsinfo(core: CoreFile, desc: Buffer): void {
  if (desc.length < 96) return;
  core.process.command = cString(desc.subarray(desc.length - 96, desc.length - 80));
  core.process.args = cString(desc.subarray(desc.length - 80));
}

/** struct elf_prstatus: elf_siginfo (3 ints), pr_cursig (short), then two longs, then pr_pid. */
function parsePrstatus(core: CoreFile, desc: Buffer): void {
  const long = core.elfClass / 8;
  const pidAt = 16 + 2 * long;
  if (desc.length < pidAt + 4 || core.process.pid !== undefined) return;
  const r = new FieldReader(desc, core.byteOrder);
  core.process.pid = r.u32(pidAt);
  core.process.signal ??= r.u16(12);
}

/**
 * Reads process memory from a core's PT_LOAD segments. A read must lie in
 * dumped bytes (within p_filesz) of one or more adjacent segments;
 * anything else is undefined, which for a memory range the process had
 * means the dumper left it out (coredump_filter).
 */
export class CoreMemory {
  constructor(
    private readonly core: Pick<CoreFile, 'segments'>,
    private readonly src: ByteSource,
  ) {}

  /** The segment holding `vaddr` (dumped or not). */
  segmentAt(vaddr: number): CoreSegment | undefined {
    const segs = this.core.segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = segs[mid]!;
      if (vaddr < s.vaddr) hi = mid - 1;
      else if (vaddr >= s.vaddr + s.memsz) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  /** True when the byte at `vaddr` is in the core. */
  dumped(vaddr: number): boolean {
    const s = this.segmentAt(vaddr);
    return s !== undefined && vaddr - s.vaddr < s.filesz;
  }

  read(vaddr: number, length: number): Buffer | undefined {
    if (!Number.isSafeInteger(vaddr) || !Number.isSafeInteger(length) || length < 0 || vaddr < 0) return undefined;
    const parts: Buffer[] = [];
    let at = vaddr;
    const end = vaddr + length;
    while (at < end) {
      const s = this.segmentAt(at);
      if (s === undefined) return undefined;
      const within = at - s.vaddr;
      if (within >= s.filesz) return undefined;
      const n = Math.min(end - at, s.filesz - within);
      let part: Buffer | undefined;
      try {
        part = this.src.read(s.offset + within, n);
      } catch {
        part = undefined;
      }
      if (part === undefined || part.length !== n) return undefined;
      parts.push(part);
      at += n;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, length);
  }
}
