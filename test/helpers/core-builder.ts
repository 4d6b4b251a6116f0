/**
 * Synthetic ELF core files for the core reader's unit tests: either class,
 * either byte order, with the notes and memory the tests choose (including
 * hostile ones). Real cores come from test/helpers/cores.ts.
 */

export interface CoreSpec {
  elfClass?: 32 | 64;
  order?: 'little' | 'big';
  /** PT_LOAD segments: memory at vaddr; `data` is what was dumped (filesz), memsz defaults to its length. */
  loads: Array<{ vaddr: number; data: Buffer; memsz?: number; flags?: number }>;
  /** Raw notes: owner name, type, descriptor. */
  notes: Array<{ name: string; type: number; desc: Buffer }>;
}

export const NT_FILE = 0x46494c45;
export const NT_AUXV = 6;
export const NT_PRPSINFO = 3;
export const NT_GNU_BUILD_ID = 3;

class Writer {
  constructor(
    readonly buf: Buffer,
    readonly order: 'little' | 'big',
    readonly cls: 32 | 64,
  ) {}
  u16(at: number, v: number) {
    if (this.order === 'little') this.buf.writeUInt16LE(v, at);
    else this.buf.writeUInt16BE(v, at);
  }
  u32(at: number, v: number) {
    if (this.order === 'little') this.buf.writeUInt32LE(v >>> 0, at);
    else this.buf.writeUInt32BE(v >>> 0, at);
  }
  u64(at: number, v: number | bigint) {
    if (this.order === 'little') this.buf.writeBigUInt64LE(BigInt(v), at);
    else this.buf.writeBigUInt64BE(BigInt(v), at);
  }
  word(at: number, v: number | bigint) {
    if (this.cls === 32) this.u32(at, Number(v));
    else this.u64(at, v);
  }
}

const pad4 = (n: number) => Math.ceil(n / 4) * 4;

/** One note, padded to 4 bytes. */
export function note(name: string, type: number, desc: Buffer, order: 'little' | 'big' = 'little'): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'latin1');
  const out = Buffer.alloc(12 + pad4(nameBytes.length) + pad4(desc.length));
  const w = new Writer(out, order, 64);
  w.u32(0, nameBytes.length);
  w.u32(4, desc.length);
  w.u32(8, type);
  nameBytes.copy(out, 12);
  desc.copy(out, 12 + pad4(nameBytes.length));
  return out;
}

/** NT_FILE's descriptor. */
export function fileNote(
  entries: Array<{ start: number; end: number; pageOffset: number; path: string }>,
  opts: { elfClass?: 32 | 64; order?: 'little' | 'big'; claimed?: number; pageSize?: number } = {},
): Buffer {
  const cls = opts.elfClass ?? 64;
  const ws = cls / 8;
  const head = Buffer.alloc(2 * ws + 3 * ws * entries.length);
  const w = new Writer(head, opts.order ?? 'little', cls);
  w.word(0, opts.claimed ?? entries.length);
  w.word(ws, opts.pageSize ?? 4096);
  entries.forEach((e, i) => {
    w.word(2 * ws + 3 * ws * i, e.start);
    w.word(2 * ws + 3 * ws * i + ws, e.end);
    w.word(2 * ws + 3 * ws * i + 2 * ws, e.pageOffset);
  });
  return Buffer.concat([head, ...entries.map((e) => Buffer.from(`${e.path}\0`))]);
}

/** NT_AUXV's descriptor. */
export function auxvNote(pairs: Array<[number, number]>, opts: { elfClass?: 32 | 64; order?: 'little' | 'big' } = {}) {
  const cls = opts.elfClass ?? 64;
  const ws = cls / 8;
  const out = Buffer.alloc(2 * ws * (pairs.length + 1));
  const w = new Writer(out, opts.order ?? 'little', cls);
  pairs.forEach(([t, v], i) => {
    w.word(2 * ws * i, t);
    w.word(2 * ws * i + ws, v);
  });
  return out;
}

/**
 * The first page of a shared library as mapped: ELF header, program headers
 * (PT_LOAD at offset 0, PT_NOTE), and its build-id note at 0x200.
 */
export function modulePage(
  buildId: Buffer,
  opts: { elfClass?: 32 | 64; order?: 'little' | 'big'; noteAt?: number; extraNotes?: Buffer; size?: number } = {},
): Buffer {
  const cls = opts.elfClass ?? 64;
  const order = opts.order ?? 'little';
  const page = Buffer.alloc(opts.size ?? 4096);
  const w = new Writer(page, order, cls);
  const noteAt = opts.noteAt ?? 0x200;
  const notes = Buffer.concat([note('GNU', NT_GNU_BUILD_ID, buildId, order), opts.extraNotes ?? Buffer.alloc(0)]);
  if (noteAt + notes.length <= page.length) notes.copy(page, noteAt);
  page.set([0x7f, 0x45, 0x4c, 0x46, cls === 32 ? 1 : 2, order === 'little' ? 1 : 2, 1], 0);
  w.u16(16, 3); // ET_DYN
  w.u16(18, cls === 32 ? 3 : 62);
  w.u32(20, 1);
  const ehsize = cls === 32 ? 52 : 64;
  const phsize = cls === 32 ? 32 : 56;
  if (cls === 32) {
    w.u32(28, ehsize);
    w.u16(40, ehsize);
    w.u16(42, phsize);
    w.u16(44, 2);
  } else {
    w.u64(32, ehsize);
    w.u16(52, ehsize);
    w.u16(54, phsize);
    w.u16(56, 2);
  }
  const ph = (i: number, type: number, offset: number, vaddr: number, filesz: number, memsz: number, align: number) => {
    const at = ehsize + i * phsize;
    if (cls === 32) {
      w.u32(at, type);
      w.u32(at + 4, offset);
      w.u32(at + 8, vaddr);
      w.u32(at + 12, vaddr);
      w.u32(at + 16, filesz);
      w.u32(at + 20, memsz);
      w.u32(at + 24, 5);
      w.u32(at + 28, align);
    } else {
      w.u32(at, type);
      w.u32(at + 4, 5);
      w.u64(at + 8, offset);
      w.u64(at + 16, vaddr);
      w.u64(at + 24, vaddr);
      w.u64(at + 32, filesz);
      w.u64(at + 40, memsz);
      w.u64(at + 48, align);
    }
  };
  ph(0, 1, 0, 0, 0x3000, 0x3000, 0x1000);
  ph(1, 4, noteAt, noteAt, notes.length, notes.length, 4);
  return page;
}

/** The core file: ELF header, program headers, one PT_NOTE, then the PT_LOAD data. */
export function buildCore(spec: CoreSpec): Buffer {
  const cls = spec.elfClass ?? 64;
  const order = spec.order ?? 'little';
  const ehsize = cls === 32 ? 52 : 64;
  const phsize = cls === 32 ? 32 : 56;
  const notes = Buffer.concat(spec.notes.map((n) => note(n.name, n.type, n.desc, order)));
  const phnum = 1 + spec.loads.length;
  const notesAt = ehsize + phnum * phsize;
  let at = Math.ceil((notesAt + notes.length) / 4096) * 4096;
  const offsets = spec.loads.map((l) => {
    const o = at;
    at += Math.ceil(l.data.length / 4096) * 4096 || 0;
    return o;
  });
  const out = Buffer.alloc(at);
  const w = new Writer(out, order, cls);
  out.set([0x7f, 0x45, 0x4c, 0x46, cls === 32 ? 1 : 2, order === 'little' ? 1 : 2, 1], 0);
  w.u16(16, 4); // ET_CORE
  w.u16(18, cls === 32 ? 3 : 62);
  w.u32(20, 1);
  if (cls === 32) {
    w.u32(28, ehsize);
    w.u16(40, ehsize);
    w.u16(42, phsize);
    w.u16(44, phnum);
  } else {
    w.u64(32, ehsize);
    w.u16(52, ehsize);
    w.u16(54, phsize);
    w.u16(56, phnum);
  }
  const ph = (i: number, type: number, flags: number, offset: number, vaddr: number, filesz: number, memsz: number) => {
    const p = ehsize + i * phsize;
    if (cls === 32) {
      w.u32(p, type);
      w.u32(p + 4, offset);
      w.u32(p + 8, vaddr);
      w.u32(p + 16, filesz);
      w.u32(p + 20, memsz);
      w.u32(p + 24, flags);
      w.u32(p + 28, type === 4 ? 4 : 4096);
    } else {
      w.u32(p, type);
      w.u32(p + 4, flags);
      w.u64(p + 8, offset);
      w.u64(p + 16, vaddr);
      w.u64(p + 32, filesz);
      w.u64(p + 40, memsz);
      w.u64(p + 48, type === 4 ? 4 : 4096);
    }
  };
  ph(0, 4, 0, notesAt, 0, notes.length, 0);
  notes.copy(out, notesAt);
  spec.loads.forEach((l, i) => {
    ph(i + 1, 1, l.flags ?? 5, offsets[i]!, l.vaddr, l.data.length, l.memsz ?? Math.max(l.data.length, 4096));
    l.data.copy(out, offsets[i]!);
  });
  return out;
}
