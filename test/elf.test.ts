/**
 * Unit tests for the ELF reader (src/elf/): build-ids as readelf reads them,
 * debuginfod's executable/debuginfo classes (checked against Debian's
 * debuginfod itself), ELF32 and big-endian files, Go build ids, streaming
 * capture in bounded memory, and hostile input.
 *
 * Real inputs are compiled with gcc into a temporary directory; 32-bit ones
 * come from `objcopy -O elf32-i386`, big-endian ones from
 * `objcopy -I binary -O elf64-big` (objcopy cannot change the byte order of
 * an ELF input) and from the small builder below, which lays out ELF files
 * of either class and byte order field by field.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ElfCapture,
  bufferSource,
  fdSource,
  inspectElf,
  isElf,
  type ByteSource,
  type ElfInfo,
} from '../src/elf/index.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasBinutils = ['gcc', 'objcopy', 'strip', 'readelf'].map(requireTool).every(Boolean);
const hasEuStrip = requireTool('eu-strip');
const hasDebuginfod = requireTool('debuginfod');

// ---------------------------------------------------------------------------
// A small ELF builder.

type Order = 'little' | 'big';
type Cls = 32 | 64;

const SHT_PROGBITS = 1;
const SHT_STRTAB = 3;
const SHT_NOTE = 7;
const SHT_NOBITS = 8;
const SHF_WRITE = 1;
const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;
const PT_LOAD = 1;
const PT_NOTE = 4;
const ET_REL = 1;
const ET_EXEC = 2;
const ET_DYN = 3;

const SIZES = { 32: { eh: 52, sh: 40, ph: 32 }, 64: { eh: 64, sh: 64, ph: 56 } } as const;

/** Field offsets and widths (0 = class word: 4 or 8 bytes). */
const EHDR = {
  32: {
    type: [16, 2],
    machine: [18, 2],
    phoff: [28, 4],
    shoff: [32, 4],
    phentsize: [42, 2],
    phnum: [44, 2],
    shentsize: [46, 2],
    shnum: [48, 2],
    shstrndx: [50, 2],
  },
  64: {
    type: [16, 2],
    machine: [18, 2],
    phoff: [32, 8],
    shoff: [40, 8],
    phentsize: [54, 2],
    phnum: [56, 2],
    shentsize: [58, 2],
    shnum: [60, 2],
    shstrndx: [62, 2],
  },
} as const;
const SHDR = {
  32: {
    name: [0, 4],
    type: [4, 4],
    flags: [8, 4],
    offset: [16, 4],
    size: [20, 4],
    link: [24, 4],
    info: [28, 4],
    addralign: [32, 4],
  },
  64: {
    name: [0, 4],
    type: [4, 4],
    flags: [8, 8],
    offset: [24, 8],
    size: [32, 8],
    link: [40, 4],
    info: [44, 4],
    addralign: [48, 8],
  },
} as const;
const PHDR = {
  32: { type: [0, 4], offset: [4, 4], filesz: [16, 4], memsz: [20, 4], flags: [24, 4], align: [28, 4] },
  64: { type: [0, 4], flags: [4, 4], offset: [8, 8], filesz: [32, 8], memsz: [40, 8], align: [48, 8] },
} as const;

function putField(buf: Buffer, order: Order, field: readonly [number, number], value: number | bigint): void {
  put(buf, order, field[0], field[1], value);
}

function put(buf: Buffer, order: Order, at: number, width: number, value: number | bigint): void {
  const v = BigInt(value);
  const little = order === 'little';
  if (width === 2) {
    if (little) buf.writeUInt16LE(Number(v), at);
    else buf.writeUInt16BE(Number(v), at);
  } else if (width === 4) {
    if (little) buf.writeUInt32LE(Number(v), at);
    else buf.writeUInt32BE(Number(v), at);
  } else {
    if (little) buf.writeBigUInt64LE(v, at);
    else buf.writeBigUInt64BE(v, at);
  }
}

interface SecSpec {
  name: string;
  type: number;
  flags?: number;
  data?: Buffer;
  /** Size of an SHT_NOBITS section. */
  nobits?: number;
  align?: number;
  link?: number;
  info?: number;
  /** Bytes of padding before the section's data. */
  gap?: number;
}
interface SegSpec {
  type: number;
  /** Point the segment at this section's bytes. */
  section?: string;
  data?: Buffer;
  align?: number;
}
interface Spec {
  cls: Cls;
  order: Order;
  type?: number;
  machine?: number;
  sections?: SecSpec[];
  segments?: SegSpec[];
  /** No section header table at all (e_shoff = e_shnum = 0). */
  noSections?: boolean;
  /** Put the section header table right after the program headers instead of at the end. */
  tableFirst?: boolean;
  /** Padding between .shstrtab and the section header table. */
  gapBeforeTable?: number;
}
interface Built {
  file: Buffer;
  spec: Spec;
  shoff: number;
  phoff: number;
  /** Section index by name (.shstrtab included). */
  index: Record<string, number>;
  offsetOf: Record<string, number>;
}

const align = (n: number, a: number): number => (a > 1 ? Math.ceil(n / a) * a : n);

function buildElf(spec: Spec): Built {
  const { cls, order } = spec;
  const sz = SIZES[cls];
  const user = spec.noSections ? [] : (spec.sections ?? []);
  const names = [...user.map((s) => s.name), '.shstrtab'];
  let strtab = '\0';
  const nameOff: Record<string, number> = {};
  for (const n of names) {
    if (nameOff[n] === undefined) {
      nameOff[n] = strtab.length;
      strtab += `${n}\0`;
    }
  }
  const secs: SecSpec[] = spec.noSections
    ? []
    : [...user, { name: '.shstrtab', type: SHT_STRTAB, data: Buffer.from(strtab, 'latin1') }];
  const segs = spec.segments ?? [];
  let pos: number = sz.eh;
  const phoff = segs.length > 0 ? pos : 0;
  pos += segs.length * sz.ph;
  let shoff = 0;
  const count = secs.length === 0 ? 0 : secs.length + 1;
  if (spec.tableFirst && count > 0) {
    pos = align(pos, 8);
    shoff = pos;
    pos += count * sz.sh;
  }
  const offsets: number[] = [];
  const segData: number[] = [];
  for (const s of secs) {
    pos += s.gap ?? 0;
    pos = align(pos, s.align ?? 1);
    offsets.push(pos);
    if (s.type !== SHT_NOBITS) pos += s.data?.length ?? 0;
  }
  for (const g of segs) {
    if (g.data !== undefined) {
      pos = align(pos, 4);
      segData.push(pos);
      pos += g.data.length;
    } else segData.push(-1);
  }
  if (!spec.tableFirst && count > 0) {
    pos += spec.gapBeforeTable ?? 0;
    pos = align(pos, 8);
    shoff = pos;
    pos += count * sz.sh;
  }
  const file = Buffer.alloc(pos);
  file.set([0x7f, 0x45, 0x4c, 0x46, cls === 32 ? 1 : 2, order === 'little' ? 1 : 2, 1], 0);
  const eh = EHDR[cls];
  putField(file, order, eh.type, spec.type ?? ET_EXEC);
  putField(file, order, eh.machine, spec.machine ?? 62);
  put(file, order, 20, 4, 1); // e_version
  put(file, order, cls === 32 ? 40 : 52, 2, sz.eh); // e_ehsize
  putField(file, order, eh.phoff, phoff);
  putField(file, order, eh.phentsize, sz.ph);
  putField(file, order, eh.phnum, segs.length);
  putField(file, order, eh.shoff, shoff);
  putField(file, order, eh.shentsize, sz.sh);
  putField(file, order, eh.shnum, count);
  putField(file, order, eh.shstrndx, count > 0 ? count - 1 : 0);
  const index: Record<string, number> = {};
  const offsetOf: Record<string, number> = {};
  secs.forEach((s, i) => {
    index[s.name] = i + 1;
    offsetOf[s.name] = offsets[i]!;
    if (s.type !== SHT_NOBITS) s.data?.copy(file, offsets[i]!);
    const at = shoff + (i + 1) * sz.sh;
    const f = SHDR[cls];
    put(file, order, at + f.name[0], 4, nameOff[s.name]!);
    put(file, order, at + f.type[0], 4, s.type);
    put(file, order, at + f.flags[0], f.flags[1], s.flags ?? 0);
    put(file, order, at + f.offset[0], f.offset[1], offsets[i]!);
    put(file, order, at + f.size[0], f.size[1], s.type === SHT_NOBITS ? (s.nobits ?? 0) : (s.data?.length ?? 0));
    put(file, order, at + f.link[0], 4, s.link ?? 0);
    put(file, order, at + f.info[0], 4, s.info ?? 0);
    put(file, order, at + f.addralign[0], f.addralign[1], s.align ?? 1);
  });
  segs.forEach((g, i) => {
    const at = phoff + i * sz.ph;
    const f = PHDR[cls];
    const target = g.section !== undefined ? secs.findIndex((s) => s.name === g.section) : -1;
    const off = target >= 0 ? offsets[target]! : segData[i]!;
    const len = target >= 0 ? (secs[target]!.data?.length ?? 0) : (g.data?.length ?? 0);
    if (g.data !== undefined) g.data.copy(file, off);
    put(file, order, at + f.type[0], 4, g.type);
    put(file, order, at + f.offset[0], f.offset[1], off);
    put(file, order, at + f.filesz[0], f.filesz[1], len);
    put(file, order, at + f.memsz[0], f.memsz[1], len);
    put(file, order, at + f.align[0], f.align[1], g.align ?? 4);
  });
  return { file, spec, shoff, phoff, index, offsetOf };
}

/** Overwrites an ELF header field of a built file (a copy). */
function withEhdr(b: Built, field: keyof (typeof EHDR)[32], value: number | bigint): Buffer {
  const out = Buffer.from(b.file);
  const [at, width] = EHDR[b.spec.cls][field];
  put(out, b.spec.order, at, width, value);
  return out;
}

/** Overwrites a section header field of a built file (a copy, or `into`). */
function withShdr(
  b: Built,
  index: number,
  field: keyof (typeof SHDR)[32],
  value: number | bigint,
  into?: Buffer,
): Buffer {
  const out = into ?? Buffer.from(b.file);
  const [at, width] = SHDR[b.spec.cls][field];
  put(out, b.spec.order, b.shoff + index * SIZES[b.spec.cls].sh + at, width, value);
  return out;
}

function withPhdr(b: Built, index: number, field: keyof (typeof PHDR)[32], value: number | bigint): Buffer {
  const out = Buffer.from(b.file);
  const [at, width] = PHDR[b.spec.cls][field];
  put(out, b.spec.order, b.phoff + index * SIZES[b.spec.cls].ph + at, width, value);
  return out;
}

/** One note: 12-byte header, name, padding, desc, padding (to `to` bytes). */
function note(order: Order, name: Buffer, type: number, desc: Buffer, to: 4 | 8 = 4): Buffer {
  const head = Buffer.alloc(12);
  put(head, order, 0, 4, name.length);
  put(head, order, 4, 4, desc.length);
  put(head, order, 8, 4, type);
  const nameEnd = align(12 + name.length, to);
  const out = Buffer.alloc(align(nameEnd + desc.length, to));
  head.copy(out, 0);
  name.copy(out, 12);
  desc.copy(out, nameEnd);
  return out;
}
const GNU = Buffer.from('GNU\0', 'latin1');
const GO = Buffer.from('Go\0\0', 'latin1');
const gnuNote = (order: Order, id: Buffer, to: 4 | 8 = 4): Buffer => note(order, GNU, 3, id, to);
const ID_A = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
const ID_B = Buffer.from('fedcba9876543210fedcba9876543210fedcba98', 'hex');
const GO_ID = 'Xq1b2c3d4e5f6g7h8i9j/k0l1m2n3o4p5q6r7s8t/u9v0w1x2y3z4a5b6c7d8/e9f0g1h2i3j4k5l6m7n8';

/** An executable-looking file: build-id note, loadable code, debug info. */
function typical(cls: Cls, order: Order, extra: Partial<Spec> = {}): Built {
  return buildElf({
    cls,
    order,
    sections: [
      { name: '.note.gnu.build-id', type: SHT_NOTE, flags: SHF_ALLOC, data: gnuNote(order, ID_A), align: 4 },
      { name: '.text', type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXECINSTR, data: Buffer.alloc(64, 0x90), align: 16 },
      { name: '.debug_info', type: SHT_PROGBITS, data: Buffer.alloc(48, 1) },
    ],
    segments: [{ type: PT_NOTE, section: '.note.gnu.build-id' }],
    ...extra,
  });
}

// ---------------------------------------------------------------------------
// Helpers.

const inspectBuffer = (buf: Buffer): ElfInfo | undefined => inspectElf(bufferSource(buf));

function streamed(buf: Buffer, chunk: number): { info: ElfInfo | undefined; capture: ElfCapture } {
  const capture = new ElfCapture(buf.length);
  for (let i = 0; i < buf.length; i += chunk) capture.push(buf.subarray(i, i + chunk));
  return { info: inspectElf(capture), capture };
}

async function readelfBuildId(file: string): Promise<string | undefined> {
  const r = await execa('readelf', ['-n', '--wide', file], { reject: false });
  return /Build ID: ([0-9a-f]+)/.exec(r.stdout)?.[1];
}

async function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  await execa(cmd, args, cwd === undefined ? {} : { cwd });
}

/** Finishes within `ms` and never throws. */
function safely<T>(fn: () => T, ms = 2000): T {
  const t0 = performance.now();
  const out = fn();
  expect(performance.now() - t0).toBeLessThan(ms);
  return out;
}

/** A seeded PRNG (mulberry32), so that a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------
// Real files.

interface RealFiles {
  dir: string;
  /** name -> path */
  files: Record<string, string>;
}

let real: RealFiles;

beforeAll(async () => {
  if (!hasBinutils) return;
  const dir = await tmpdir('elf');
  const src = join(dir, 'hello.c');
  await writeFile(
    src,
    '#include <stdio.h>\nstatic int counter;\nint main(void) { counter++; puts("hello"); return counter - 1; }\n',
  );
  const f = (name: string): string => join(dir, name);
  await run('gcc', ['-g', '-O1', '-Wl,--build-id=sha1', '-o', f('hello'), src]);
  await run('gcc', ['-g', '-c', '-o', f('hello.o'), src]);
  await run('objcopy', ['--only-keep-debug', f('hello'), f('hello.debug')]);
  await copyFile(f('hello'), f('hello.stripped'));
  await run('strip', [f('hello.stripped')]);
  // ELF32 conversions of the linked program and of its debug file.
  await run('objcopy', ['-O', 'elf32-i386', f('hello'), f('hello32')]);
  await run('objcopy', ['-O', 'elf32-i386', f('hello.debug'), f('hello32.debug')]);
  // Big-endian: objcopy cannot byte-swap an ELF input, so wrap raw bytes into a new big-endian ELF.
  await writeFile(f('payload.bin'), Buffer.alloc(64, 0x90));
  await writeFile(f('debug.bin'), Buffer.alloc(32, 1));
  for (const [cls, target] of [
    [32, 'elf32-big'],
    [64, 'elf64-big'],
  ] as const) {
    const notePath = f(`note${cls}.be`);
    await writeFile(notePath, gnuNote('big', cls === 32 ? ID_A : ID_B));
    await run('objcopy', [
      '-I', 'binary', '-O', target,
      '--add-section', `.note.gnu.build-id=${notePath}`,
      '--set-section-flags', '.note.gnu.build-id=alloc,readonly,contents',
      '--add-section', `.debug_info=${f('debug.bin')}`,
      f('payload.bin'), f(`be${cls}.o`),
    ]); // prettier-ignore
  }
  // Go style: no GNU build-id, a Go build id note in .note.go.buildid.
  await run('gcc', ['-g', '-Wl,--build-id=none', '-o', f('nobuildid'), src]);
  await writeFile(f('go.note'), note('little', GO, 4, Buffer.from(GO_ID, 'latin1')));
  await run('objcopy', [
    '--add-section', `.note.go.buildid=${f('go.note')}`,
    '--set-section-flags', '.note.go.buildid=alloc,readonly',
    f('nobuildid'), f('gostyle'),
  ]); // prettier-ignore
  // > 10 MiB: the debug file with a 12 MiB section, which puts .shstrtab and the section table far from the notes.
  await writeFile(f('pad.bin'), Buffer.alloc(12 * 1024 * 1024, 0x5a));
  await run('objcopy', ['--add-section', `.debug_pad=${f('pad.bin')}`, f('hello.debug'), f('padded.debug')]);
  const files: Record<string, string> = {};
  for (const name of [
    'hello',
    'hello.o',
    'hello.debug',
    'hello.stripped',
    'hello32',
    'hello32.debug',
    'be32.o',
    'be64.o',
    'gostyle',
    'padded.debug',
  ]) {
    files[name] = f(name);
  }
  if (hasEuStrip) {
    // eu-strip -f moves the note sections in the debug file but keeps the program headers:
    // PT_NOTE then points into the middle of .note.gnu.build-id.
    await copyFile(f('hello'), f('hello.eu'));
    await run('eu-strip', ['-f', f('hello.eu.debug'), f('hello.eu')]);
    files['hello.eu'] = f('hello.eu');
    files['hello.eu.debug'] = f('hello.eu.debug');
  }
  real = { dir, files };
});

describe('ELF files built by gcc and binutils', () => {
  it.skipIf(!hasBinutils)(
    'reads the build-id readelf -n shows, from the program, the stripped program and the .debug file',
    async () => {
      const expected = await readelfBuildId(real.files['hello']!);
      expect(expected).toMatch(/^[0-9a-f]{40}$/);
      for (const name of ['hello', 'hello.stripped', 'hello.debug', 'padded.debug', 'hello.eu', 'hello.eu.debug']) {
        const path = real.files[name];
        if (path === undefined) continue;
        expect(await readelfBuildId(path), name).toBe(expected);
        const info = inspectBuffer(await readFile(path));
        expect(info?.gnuBuildId, name).toBe(expected);
        expect(info?.incomplete, name).toBeUndefined();
        expect(info?.malformed, name).toBeUndefined();
      }
    },
  );

  it.skipIf(!hasBinutils)('reads the same through pread (fdSource) as from memory', async () => {
    for (const path of Object.values(real.files)) {
      const fd = openSync(path, 'r');
      try {
        expect(inspectElf(fdSource(fd, (await stat(path)).size))).toEqual(inspectBuffer(await readFile(path)));
      } finally {
        closeSync(fd);
      }
    }
  });

  it.skipIf(!hasBinutils)('classes the stripped program as executable, the .debug file as debuginfo', async () => {
    const info = (name: string) => readFile(real.files[name]!).then(inspectBuffer);
    expect(await info('hello.stripped')).toMatchObject({
      elfClass: 64,
      byteOrder: 'little',
      type: 'dyn',
      machine: 62,
      executable: true,
      debuginfo: false,
    });
    expect(await info('hello.debug')).toMatchObject({ type: 'dyn', executable: false, debuginfo: true });
    expect(await info('hello')).toMatchObject({ executable: true, debuginfo: true });
    expect(await info('padded.debug')).toMatchObject({ executable: false, debuginfo: true });
  });

  it.skipIf(!hasBinutils || !hasEuStrip)(
    'prefers the note section over a stale PT_NOTE (eu-strip -f debug file)',
    async () => {
      const buf = await readFile(real.files['hello.eu.debug']!);
      const info = inspectBuffer(buf)!;
      expect(info).toMatchObject({ executable: false, debuginfo: true });
      expect(info.gnuBuildId).toBe(await readelfBuildId(real.files['hello']!));
    },
  );

  it.skipIf(!hasBinutils)('an object file is rel, without build-id, and not indexed', async () => {
    const info = inspectBuffer(await readFile(real.files['hello.o']!));
    expect(info).toMatchObject({ type: 'rel', elfClass: 64, executable: false, debuginfo: false });
    expect(info?.gnuBuildId).toBeUndefined();
    expect(info?.goBuildId).toBeUndefined();
  });

  it.skipIf(!hasBinutils)('ELF32 (objcopy -O elf32-i386) decodes with the same build-id', async () => {
    const expected = await readelfBuildId(real.files['hello']!);
    const prog = inspectBuffer(await readFile(real.files['hello32']!));
    const dbg = inspectBuffer(await readFile(real.files['hello32.debug']!));
    expect(prog).toMatchObject({
      elfClass: 32,
      byteOrder: 'little',
      machine: 3,
      gnuBuildId: expected,
      executable: true,
    });
    expect(dbg).toMatchObject({ elfClass: 32, gnuBuildId: expected, executable: false, debuginfo: true });
  });

  it.skipIf(!hasBinutils)(
    'big-endian ELF32 and ELF64 (objcopy -O elf32-big / elf64-big) decode with their build-ids',
    async () => {
      for (const [name, id, cls] of [
        ['be32.o', ID_A, 32],
        ['be64.o', ID_B, 64],
      ] as const) {
        const path = real.files[name]!;
        expect(await readelfBuildId(path)).toBe(id.toString('hex'));
        expect(inspectBuffer(await readFile(path))).toEqual({
          elfClass: cls,
          byteOrder: 'big',
          type: 'rel',
          machine: 0,
          gnuBuildId: id.toString('hex'),
          executable: false,
          debuginfo: true,
        });
      }
    },
  );

  it.skipIf(!hasBinutils)('a Go-style file gives goBuildId and no gnuBuildId', async () => {
    const path = real.files['gostyle']!;
    expect(await readelfBuildId(path)).toBeUndefined();
    const info = inspectBuffer(await readFile(path));
    expect(info).toMatchObject({ goBuildId: GO_ID, executable: false, debuginfo: false });
    expect(info?.gnuBuildId).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// Hand-built files.

describe('hand-built ELF files', () => {
  for (const cls of [32, 64] as const) {
    for (const order of ['little', 'big'] as const) {
      it(`ELF${cls} ${order}-endian: build-id, class, machine, executable and debuginfo`, () => {
        const b = typical(cls, order, { machine: 20 });
        expect(inspectBuffer(b.file)).toEqual({
          elfClass: cls,
          byteOrder: order,
          type: 'exec',
          machine: 20,
          gnuBuildId: ID_A.toString('hex'),
          executable: true,
          debuginfo: true,
        });
      });
    }
  }

  it.skipIf(!hasBinutils)('agrees with readelf -n on hand-built files of every class and byte order', async () => {
    const dir = await tmpdir('elf-hand');
    for (const cls of [32, 64] as const) {
      for (const order of ['little', 'big'] as const) {
        const path = join(dir, `t${cls}${order}`);
        await writeFile(path, typical(cls, order).file);
        expect(await readelfBuildId(path)).toBe(ID_A.toString('hex'));
      }
    }
  });

  it('reads a build-id after other notes, with 8-byte note alignment', () => {
    for (const order of ['little', 'big'] as const) {
      const prop = note(order, GNU, 5, Buffer.alloc(16, 7), 8); // NT_GNU_PROPERTY_TYPE_0
      const b = buildElf({
        cls: 64,
        order,
        sections: [
          {
            name: '.note.gnu.property',
            type: SHT_NOTE,
            flags: SHF_ALLOC,
            data: Buffer.concat([prop, gnuNote(order, ID_B, 8)]),
            align: 8,
          },
          { name: '.text', type: SHT_PROGBITS, flags: SHF_ALLOC, data: Buffer.alloc(8) },
        ],
      });
      expect(inspectBuffer(b.file)).toMatchObject({
        gnuBuildId: ID_B.toString('hex'),
        executable: true,
        debuginfo: false,
      });
    }
  });

  it('takes the build-id from sections when there are sections, from PT_NOTE only when there are none', () => {
    // A decoy PT_NOTE with another id: dwelf_elf_gnu_build_id ignores program headers when sections exist.
    const b = typical(64, 'little', { segments: [{ type: PT_NOTE, data: gnuNote('little', ID_B) }] });
    expect(inspectBuffer(b.file)?.gnuBuildId).toBe(ID_A.toString('hex'));
    const bare = buildElf({
      cls: 32,
      order: 'big',
      noSections: true,
      segments: [
        { type: PT_LOAD, data: Buffer.alloc(16) },
        { type: PT_NOTE, data: gnuNote('big', ID_B) },
      ],
    });
    expect(inspectBuffer(bare.file)).toMatchObject({
      gnuBuildId: ID_B.toString('hex'),
      executable: false,
      debuginfo: false,
    });
  });

  it('owner and type must match exactly: "GNU\\0" with n_namesz 4, type 3', () => {
    const notes = Buffer.concat([
      note('little', Buffer.from('GNU', 'latin1'), 3, ID_B), // n_namesz 3
      note('little', Buffer.from('GNU\0\0', 'latin1'), 3, ID_B), // n_namesz 5
      note('little', GNU, 1, ID_B), // NT_GNU_ABI_TAG
      note('little', Buffer.from('GNV\0', 'latin1'), 3, ID_B),
      gnuNote('little', ID_A),
    ]);
    const b = buildElf({
      cls: 64,
      order: 'little',
      sections: [{ name: '.note', type: SHT_NOTE, data: notes, align: 4 }],
    });
    expect(inspectBuffer(b.file)?.gnuBuildId).toBe(ID_A.toString('hex'));
  });

  it('an empty build-id note means no build-id (debuginfod skips the file)', () => {
    const b = typical(64, 'little');
    const empty = buildElf({
      ...b.spec,
      sections: [
        { name: '.note.gnu.build-id', type: SHT_NOTE, data: gnuNote('little', Buffer.alloc(0)) },
        ...b.spec.sections!.slice(1),
      ],
    });
    const info = inspectBuffer(empty.file)!;
    expect(info.gnuBuildId).toBeUndefined();
    expect(info).toMatchObject({ executable: false, debuginfo: false });
    expect(info.malformed).toMatch(/empty/);
  });

  it('executable needs ET_EXEC or ET_DYN and an SHF_ALLOC SHT_PROGBITS section', () => {
    const mk = (type: number, sections: SecSpec[]) =>
      inspectBuffer(
        buildElf({
          cls: 64,
          order: 'little',
          type,
          sections: [{ name: '.note.gnu.build-id', type: SHT_NOTE, data: gnuNote('little', ID_A) }, ...sections],
        }).file,
      )!;
    const text: SecSpec = {
      name: '.text',
      type: SHT_PROGBITS,
      flags: SHF_ALLOC | SHF_EXECINSTR,
      data: Buffer.alloc(4),
    };
    expect(mk(ET_EXEC, [text]).executable).toBe(true);
    expect(mk(ET_DYN, [text]).executable).toBe(true);
    expect(mk(ET_REL, [text]).executable).toBe(false);
    expect(mk(ET_DYN, [{ ...text, type: SHT_NOBITS, nobits: 4 }]).executable).toBe(false);
    expect(mk(ET_DYN, [{ ...text, flags: SHF_WRITE }]).executable).toBe(false);
  });

  it('debuginfo: a .debug_ or .zdebug_ name before the first unresolvable name', () => {
    const mk = (names: string[]) =>
      buildElf({
        cls: 64,
        order: 'big',
        type: ET_DYN,
        sections: [
          { name: '.note.gnu.build-id', type: SHT_NOTE, data: gnuNote('big', ID_A) },
          ...names.map((name) => ({ name, type: SHT_PROGBITS, data: Buffer.alloc(4) })),
        ],
      });
    expect(inspectBuffer(mk(['.zdebug_info']).file)?.debuginfo).toBe(true);
    expect(inspectBuffer(mk(['.debug_line']).file)?.debuginfo).toBe(true);
    expect(inspectBuffer(mk(['.debug']).file)?.debuginfo).toBe(false);
    expect(inspectBuffer(mk(['.gnu_debuglink', '.comment']).file)?.debuginfo).toBe(false);
    // An sh_name past the string table stops debuginfod's walk before .debug_info.
    const b = mk(['.comment', '.debug_info']);
    expect(inspectBuffer(withShdr(b, b.index['.comment']!, 'name', 0x7fffffff))?.debuginfo).toBe(false);
    expect(inspectBuffer(withShdr(b, b.index['.debug_info']!, 'name', 0x7fffffff))?.debuginfo).toBe(false);
    // A section name table that is not SHT_STRTAB resolves no names.
    expect(inspectBuffer(withShdr(b, b.index['.shstrtab']!, 'type', SHT_PROGBITS))).toMatchObject({
      gnuBuildId: ID_A.toString('hex'),
      debuginfo: false,
    });
  });

  it('follows extended numbering: e_shnum 0 and e_shstrndx SHN_XINDEX defer to section 0', () => {
    const b = typical(64, 'little');
    const count = Object.keys(b.index).length + 1;
    let f = withEhdr(b, 'shnum', 0);
    f = Buffer.from(f);
    put(f, 'little', EHDR[64].shstrndx[0], 2, 0xffff);
    withShdr(b, 0, 'size', count, f);
    withShdr(b, 0, 'link', b.index['.shstrtab']!, f);
    expect(inspectBuffer(f)).toMatchObject({ gnuBuildId: ID_A.toString('hex'), executable: true, debuginfo: true });
    expect(inspectBuffer(f)?.malformed).toBeUndefined();
  });

  it('goBuildId from .note.go.buildid, next to a GNU build-id too', () => {
    const b = buildElf({
      cls: 64,
      order: 'big',
      sections: [
        { name: '.note.go.buildid', type: SHT_NOTE, flags: SHF_ALLOC, data: note('big', GO, 4, Buffer.from(GO_ID)) },
        { name: '.note.gnu.build-id', type: SHT_NOTE, flags: SHF_ALLOC, data: gnuNote('big', ID_B) },
        { name: '.text', type: SHT_PROGBITS, flags: SHF_ALLOC, data: Buffer.alloc(8) },
      ],
    });
    expect(inspectBuffer(b.file)).toMatchObject({
      goBuildId: GO_ID,
      gnuBuildId: ID_B.toString('hex'),
      executable: true,
    });
    // The Go note must be in the section of that name, with owner "Go\0\0" and type 4.
    const elsewhere = buildElf({
      cls: 64,
      order: 'little',
      sections: [{ name: '.note.other', type: SHT_NOTE, data: note('little', GO, 4, Buffer.from(GO_ID)) }],
    });
    expect(inspectBuffer(elsewhere.file)?.goBuildId).toBeUndefined();
    const wrongType = buildElf({
      cls: 64,
      order: 'little',
      sections: [{ name: '.note.go.buildid', type: SHT_NOTE, data: note('little', GO, 3, Buffer.from(GO_ID)) }],
    });
    expect(inspectBuffer(wrongType.file)?.goBuildId).toBeUndefined();
    // Non-printable bytes come out escaped.
    const odd = buildElf({
      cls: 32,
      order: 'little',
      sections: [
        { name: '.note.go.buildid', type: SHT_NOTE, data: note('little', GO, 4, Buffer.from('a\nb\\', 'latin1')) },
      ],
    });
    expect(inspectBuffer(odd.file)?.goBuildId).toBe('a\\x0ab\\x5c');
  });

  it('isElf and non-ELF input', () => {
    const b = typical(32, 'little');
    expect(isElf(b.file)).toBe(true);
    expect(isElf(b.file.subarray(0, 15))).toBe(false);
    for (const [at, v] of [
      [0, 0x7e],
      [4, 3],
      [5, 0],
      [6, 2],
    ] as const) {
      const f = Buffer.from(b.file);
      f[at] = v;
      expect(isElf(f)).toBe(false);
      expect(inspectBuffer(f)).toBeUndefined();
    }
    expect(inspectBuffer(Buffer.alloc(0))).toBeUndefined();
    expect(inspectBuffer(Buffer.from('#!/bin/sh\necho hello\n'))).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// Streaming capture.

describe('ElfCapture', () => {
  it.skipIf(!hasBinutils)(
    'gives the same result as random access on real files, in chunks of 1, 4096 and 1 MiB',
    async () => {
      for (const [name, path] of Object.entries(real.files)) {
        const buf = await readFile(path);
        const whole = inspectBuffer(buf);
        expect(whole, name).toBeDefined();
        const chunks = buf.length <= 256 * 1024 ? [1, 4096, 1024 * 1024, 65537] : [4096, 1024 * 1024, 65537];
        for (const chunk of chunks) {
          const { info, capture } = streamed(buf, chunk);
          expect(info, `${name} in chunks of ${chunk}`).toEqual(whole);
          expect(capture.position).toBe(buf.length);
        }
      }
    },
  );

  it.skipIf(!hasBinutils)('keeps bounded memory on a file over 10 MiB', async () => {
    const buf = await readFile(real.files['padded.debug']!);
    expect(buf.length).toBeGreaterThan(10 * 1024 * 1024);
    const { info, capture } = streamed(buf, 4096);
    expect(info).toEqual(inspectBuffer(buf));
    expect(info).toMatchObject({ debuginfo: true, executable: false });
    expect(info?.gnuBuildId).toMatch(/^[0-9a-f]{40}$/);
    // First 64 KiB, the 1 MiB before the section headers, and the section headers.
    expect(capture.retainedBytes).toBeLessThan(64 * 1024 + 1024 * 1024 + 64 * 1024);
  });

  it('keeps ranges that lie ahead: an early section table, notes and names far into the file', () => {
    const b = buildElf({
      cls: 64,
      order: 'little',
      tableFirst: true,
      sections: [
        { name: '.text', type: SHT_PROGBITS, flags: SHF_ALLOC, data: Buffer.alloc(16) },
        { name: '.note.gnu.build-id', type: SHT_NOTE, data: gnuNote('little', ID_B), gap: 3 * 1024 * 1024, align: 4 },
        {
          name: '.note.go.buildid',
          type: SHT_NOTE,
          data: note('little', GO, 4, Buffer.from(GO_ID)),
          gap: 1024 * 1024,
          align: 4,
        },
        { name: '.debug_info', type: SHT_PROGBITS, data: Buffer.alloc(16) },
        // .shstrtab comes right after this: 2 MiB further on.
        { name: '.pad', type: SHT_PROGBITS, data: Buffer.alloc(0), gap: 2 * 1024 * 1024 },
      ],
    });
    const whole = inspectBuffer(b.file);
    expect(whole).toEqual({
      elfClass: 64,
      byteOrder: 'little',
      type: 'exec',
      machine: 62,
      gnuBuildId: ID_B.toString('hex'),
      goBuildId: GO_ID,
      executable: true,
      debuginfo: true,
    });
    for (const chunk of [4096, 1024 * 1024, 777]) {
      const { info, capture } = streamed(b.file, chunk);
      expect(info).toEqual(whole);
      expect(capture.retainedBytes).toBeLessThan(128 * 1024);
    }
    // The same with no sections: a PT_NOTE segment 5 MiB in.
    const bare = buildElf({
      cls: 32,
      order: 'big',
      noSections: true,
      segments: [
        { type: PT_LOAD, data: Buffer.alloc(5 * 1024 * 1024) },
        { type: PT_NOTE, data: gnuNote('big', ID_A) },
      ],
    });
    expect(streamed(bare.file, 4096).info).toEqual(inspectBuffer(bare.file));
    expect(streamed(bare.file, 4096).info?.gnuBuildId).toBe(ID_A.toString('hex'));
  });

  it('reports incomplete when a needed range streamed past unkept', () => {
    // .shstrtab 128 KiB in, then 2 MiB before the section headers: outside both the head and the window.
    const b = typical(64, 'little', { gapBeforeTable: 2 * 1024 * 1024 });
    const shifted = buildElf({
      ...b.spec,
      sections: [...b.spec.sections!, { name: '.pad', type: SHT_PROGBITS, data: Buffer.alloc(128 * 1024) }],
    });
    const whole = inspectBuffer(shifted.file)!;
    expect(whole).toMatchObject({ gnuBuildId: ID_A.toString('hex'), debuginfo: true, executable: true });
    expect(whole.incomplete).toBeUndefined();
    const { info } = streamed(shifted.file, 65536);
    expect(info?.incomplete).toMatch(/section name table/);
    expect(info).toMatchObject({ gnuBuildId: ID_A.toString('hex'), executable: true, debuginfo: false });
    // A stream cut short: the section table never arrives.
    const capture = new ElfCapture(shifted.file.length);
    capture.push(shifted.file.subarray(0, 100_000));
    expect(inspectElf(capture)?.incomplete).toMatch(/section header table/);
  });

  it('ignores empty chunks and bytes past the declared size', () => {
    const b = typical(32, 'big');
    const capture = new ElfCapture(b.file.length);
    capture.push(Buffer.alloc(0));
    capture.push(Buffer.concat([b.file, Buffer.alloc(1000, 0xff)]));
    capture.push(Buffer.alloc(10));
    capture.push(Buffer.alloc(0));
    expect(capture.position).toBe(b.file.length);
    expect(inspectElf(capture)).toEqual(inspectBuffer(b.file));
    expect(capture.read(0, 0)).toEqual(Buffer.alloc(0));
    expect(capture.read(b.file.length, 0)).toEqual(Buffer.alloc(0));
    expect(capture.read(b.file.length, 1)).toBeUndefined();
    expect(capture.read(-1, 1)).toBeUndefined();
    expect(inspectElf(new ElfCapture(0))).toBeUndefined();
    expect(inspectElf(new ElfCapture(1 << 30))).toBeUndefined(); // nothing pushed yet
  });
});

// ---------------------------------------------------------------------------
// Hostile input.

describe('hostile input', () => {
  const check = (buf: Buffer): ElfInfo | undefined => {
    const info = safely(() => inspectBuffer(buf));
    for (const chunk of [4096, 65536]) safely(() => streamed(buf, chunk).info);
    if (info !== undefined) {
      expect([32, 64]).toContain(info.elfClass);
      expect(typeof info.executable).toBe('boolean');
      expect(typeof info.debuginfo).toBe('boolean');
      if (info.gnuBuildId !== undefined) expect(info.gnuBuildId).toMatch(/^[0-9a-f]+$/);
    }
    return info;
  };

  it('every truncation of a file, in all four classes and byte orders', () => {
    for (const cls of [32, 64] as const) {
      for (const order of ['little', 'big'] as const) {
        const b = typical(cls, order);
        for (let n = 0; n <= b.file.length; n++) {
          const info = safely(() => inspectBuffer(b.file.subarray(0, n)), 200);
          if (n < 16) expect(info).toBeUndefined();
          else expect(info).toBeDefined();
          if (n < SIZES[cls].eh && n >= 16) expect(info?.malformed).toMatch(/truncated/);
        }
      }
    }
  });

  it('section header table offsets and counts out of range', () => {
    const b = typical(64, 'little');
    expect(check(withEhdr(b, 'shoff', 0xffffffffffffffffn))?.malformed).toMatch(/past the end/);
    expect(check(withEhdr(b, 'shoff', b.file.length - 8))?.malformed).toMatch(/past the end/);
    expect(check(withEhdr(b, 'shnum', 0xffff))?.malformed).toMatch(/past the end/);
    expect(check(withEhdr(b, 'shentsize', 0))?.malformed).toMatch(/e_shentsize/);
    // Table past the end: libelf pretends there are no sections, so the build-id comes from PT_NOTE.
    expect(check(withEhdr(b, 'shnum', 0xffff))?.gnuBuildId).toBe(ID_A.toString('hex'));
    // Extended numbering with absurd counts.
    const ext = withEhdr(b, 'shnum', 0);
    expect(check(withShdr(b, 0, 'size', 0xffffffff, Buffer.from(ext)))?.malformed).toMatch(/past the end/);
    expect(check(withShdr(b, 0, 'size', 2n ** 40n, Buffer.from(ext)))?.malformed).toMatch(/2\^32/);
    expect(check(withShdr(b, 0, 'size', 2n ** 64n - 1n, Buffer.from(ext)))?.gnuBuildId).toBeUndefined();
    const b32 = typical(32, 'big');
    expect(check(withEhdr(b32, 'shoff', 0xffffffff))?.malformed).toMatch(/past the end/);
    expect(check(withShdr(b32, 0, 'size', 0xffffffff, withEhdr(b32, 'shnum', 0)))?.malformed).toMatch(/past the end/);
  });

  it('section names, string table and shstrndx out of range', () => {
    const b = typical(32, 'little');
    for (const v of [0, 0xfeff, 0xff00, 0xffff]) expect(check(withEhdr(b, 'shstrndx', v))?.debuginfo).toBe(false);
    const strtab = b.index['.shstrtab']!;
    expect(check(withShdr(b, 1, 'name', 0xffffffff))?.debuginfo).toBe(false);
    expect(check(withShdr(b, strtab, 'offset', 0xfffffff0))?.malformed).toMatch(/name table/);
    expect(check(withShdr(b, strtab, 'size', 0xffffffff))?.debuginfo).toBe(false);
    // A string table whose last name is not NUL-terminated: that name does not resolve.
    const unterminated = Buffer.from(b.file);
    unterminated[
      b.offsetOf['.shstrtab']! + Buffer.from(`\0.note.gnu.build-id\0.text\0.debug_info\0.shstrtab\0`).length - 1
    ] = 0x41;
    expect(check(unterminated)).toMatchObject({ gnuBuildId: ID_A.toString('hex'), debuginfo: true });
  });

  it('note sizes that overflow, wrap or run past the area', () => {
    for (const order of ['little', 'big'] as const) {
      const b = typical(64, order);
      const at = b.offsetOf['.note.gnu.build-id']!;
      for (const [field, value] of [
        [0, 0xffffffff],
        [4, 0xffffffff],
        [4, 0xfffffffd],
        [4, 0xfffffffc],
        [0, 0x7ffffffc],
        [4, 21],
        [0, 5],
      ] as const) {
        const f = Buffer.from(b.file);
        put(f, order, at + field, 4, value);
        const info = check(f)!;
        expect(info.gnuBuildId).toBeUndefined();
      }
      // Section offset and size out of range.
      expect(check(withShdr(b, 1, 'offset', 2n ** 64n - 1n))?.malformed).toMatch(/outside the file/);
      expect(check(withShdr(b, 1, 'size', 2n ** 63n))?.malformed).toMatch(/outside the file/);
      expect(check(withShdr(b, 1, 'size', 0))?.gnuBuildId).toBeUndefined();
    }
  });

  it('program headers out of range', () => {
    const b = buildElf({
      cls: 64,
      order: 'big',
      noSections: true,
      segments: [{ type: PT_NOTE, data: gnuNote('big', ID_A) }],
    });
    expect(check(b.file)?.gnuBuildId).toBe(ID_A.toString('hex'));
    expect(check(withEhdr(b, 'phoff', 2n ** 64n - 1n))?.gnuBuildId).toBeUndefined();
    expect(check(withEhdr(b, 'phnum', 0xfffe))?.malformed).toMatch(/program header table/);
    expect(check(withEhdr(b, 'phnum', 0xffff))).toBeDefined();
    expect(check(withEhdr(b, 'phentsize', 0))?.malformed).toMatch(/e_phentsize/);
    expect(check(withPhdr(b, 0, 'filesz', 2n ** 64n - 1n))?.gnuBuildId).toBeUndefined();
    expect(check(withPhdr(b, 0, 'offset', 2n ** 63n))?.gnuBuildId).toBeUndefined();
  });

  it('65535 note sections and a megabyte of empty notes stay fast', () => {
    // Every section an empty-notes SHT_NOTE area: the walk is capped, not 65535 areas long.
    const zeros = Buffer.alloc(1024 * 1024);
    const b = buildElf({
      cls: 64,
      order: 'little',
      sections: [{ name: '.note.zero', type: SHT_NOTE, data: zeros, align: 4 }],
    });
    const f = withEhdr(b, 'shnum', 0xffff);
    const many = Buffer.concat([f, Buffer.alloc(0xffff * 64)]);
    const table = many.length - 0xffff * 64;
    put(many, 'little', EHDR[64].shoff[0], 8, table);
    for (let i = 1; i < 0xffff; i++) {
      const at = table + i * 64;
      put(many, 'little', at + 4, 4, SHT_NOTE);
      put(many, 'little', at + 24, 8, b.offsetOf['.note.zero']!);
      put(many, 'little', at + 32, 8, zeros.length);
    }
    const info = check(many)!;
    expect(info.gnuBuildId).toBeUndefined();
    expect(info.incomplete).toMatch(/note/);
  });

  it('byte sources that fail, throw or lie', () => {
    const b = typical(64, 'little');
    const good = bufferSource(b.file);
    const sources: ByteSource[] = [
      { size: b.file.length, read: () => undefined },
      { size: b.file.length, read: (o, l) => (o === 0 ? good.read(o, l) : undefined) },
      { size: b.file.length, read: (o, l) => (o === 0 ? good.read(o, l) : Buffer.alloc(Math.max(0, l - 1))) },
      {
        size: b.file.length,
        read: (o, l) => {
          if (o === 0) return good.read(o, l);
          throw new Error('EIO');
        },
      },
      { size: b.file.length, read: () => { throw new Error('EIO'); } }, // prettier-ignore
      { size: Number.NaN, read: (o, l) => good.read(o, l) },
      { size: -5, read: (o, l) => good.read(o, l) },
      { size: 2 ** 60, read: (o, l) => good.read(o, l) },
    ];
    for (const src of sources) {
      const info = safely(() => inspectElf(src));
      if (info !== undefined) expect(info.gnuBuildId === undefined || info.incomplete === undefined).toBe(true);
    }
    expect(inspectElf(sources[1]!)?.incomplete).toMatch(/section header table/);
  });

  it.skipIf(!hasBinutils)('random corruption of real and hand-built files never throws', async () => {
    const bases = [
      await readFile(real.files['hello.stripped']!),
      await readFile(real.files['hello.debug']!),
      await readFile(real.files['hello32']!),
      await readFile(real.files['be64.o']!),
      typical(32, 'big').file,
      buildElf({
        cls: 64,
        order: 'little',
        noSections: true,
        segments: [{ type: PT_NOTE, data: gnuNote('little', ID_A) }],
      }).file,
    ];
    const rand = prng(20240601);
    for (let iter = 0; iter < 1500; iter++) {
      const base = bases[iter % bases.length]!;
      const f = Buffer.from(base);
      const edits = 1 + Math.floor(rand() * 8);
      for (let e = 0; e < edits; e++) {
        // Mostly header and table bytes, where a flip changes structure.
        const hot = rand() < 0.6;
        const at = hot ? Math.floor(rand() * Math.min(f.length, 128)) : Math.floor(rand() * f.length);
        f[at] = rand() < 0.3 ? 0xff : Math.floor(rand() * 256);
      }
      const info = safely(() => inspectBuffer(f), 1000);
      const chunk = 1 + Math.floor(rand() * 70000);
      safely(() => streamed(f, chunk).info, 1000);
      if (info !== undefined) expect(typeof info.executable).toBe('boolean');
    }
  });
});

// ---------------------------------------------------------------------------
// Against debuginfod itself.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Runs `debuginfod -F` over `dir` and returns, per file, the build-id and
 * classes it recorded ("recorded buildid=ID file=PATH mtime=T atype=ED" at -vvv).
 */
async function debuginfodVerdicts(
  dir: string,
  files: string[],
): Promise<Map<string, { buildid: string; atype: string }>> {
  const port = await freePort();
  const db = join(await tmpdir('elf-debuginfod-db'), 'db.sqlite');
  const env = { ...process.env };
  delete env.DEBUGINFOD_URLS;
  const child: ChildProcess = spawn('debuginfod', ['-F', '-p', String(port), '-d', db, '-t0', '-g0', '-vvv', dir], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const verdicts = new Map<string, { buildid: string; atype: string }>();
  let log = '';
  const onData = (chunk: Buffer): void => {
    log += chunk.toString();
    let nl: number;
    while ((nl = log.indexOf('\n')) >= 0) {
      const line = log.slice(0, nl);
      log = log.slice(nl + 1);
      const m = /recorded buildid=(\S*) file=(\S+) mtime=\d+ atype=(\S*)/.exec(line);
      if (m) verdicts.set(m[2]!, { buildid: m[1]!, atype: m[3]! });
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  try {
    const deadline = Date.now() + 60_000;
    while (files.some((f) => !verdicts.has(f))) {
      if (Date.now() > deadline)
        throw new Error(`debuginfod did not scan ${files.filter((f) => !verdicts.has(f)).join(', ')}`);
      if (child.exitCode !== null) throw new Error(`debuginfod exited (${child.exitCode})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  }
  return verdicts;
}

describe('debuginfod agrees', () => {
  it.skipIf(!hasBinutils || !hasDebuginfod)(
    'on build-ids and executable/debuginfo classes of real, hand-built and odd files',
    async () => {
      const dir = await tmpdir('elf-debuginfod');
      const cases: Record<string, Buffer> = {};
      for (const [name, path] of Object.entries(real.files))
        if (name !== 'padded.debug') cases[name] = await readFile(path);
      for (const cls of [32, 64] as const)
        for (const order of ['little', 'big'] as const) cases[`typical-${cls}-${order}`] = typical(cls, order).file;
      const t = typical(64, 'little');
      cases['decoy-pt-note'] = typical(64, 'big', { segments: [{ type: PT_NOTE, data: gnuNote('big', ID_B) }] }).file;
      cases['no-sections'] = buildElf({
        cls: 64,
        order: 'little',
        noSections: true,
        segments: [{ type: PT_NOTE, data: gnuNote('little', ID_B) }],
      }).file;
      cases['table-past-end'] = withEhdr(t, 'shnum', 0xffff);
      cases['bad-name-first'] = withShdr(t, t.index['.text']!, 'name', 0x7fffffff);
      cases['strtab-not-strtab'] = withShdr(t, t.index['.shstrtab']!, 'type', SHT_PROGBITS);
      cases['shstrndx-zero'] = withEhdr(t, 'shstrndx', 0);
      const ext = withEhdr(t, 'shnum', 0);
      put(ext, 'little', EHDR[64].shstrndx[0], 2, 0xffff);
      withShdr(t, 0, 'size', Object.keys(t.index).length + 1, ext);
      withShdr(t, 0, 'link', t.index['.shstrtab']!, ext);
      cases['extended-numbering'] = ext;
      cases['empty-build-id'] = buildElf({
        ...t.spec,
        sections: [
          { name: '.note.gnu.build-id', type: SHT_NOTE, data: gnuNote('little', Buffer.alloc(0)) },
          ...t.spec.sections!.slice(1),
        ],
      }).file;
      cases['rel-with-text'] = typical(32, 'little', { type: ET_REL }).file;
      cases['bad-ei-version'] = Buffer.from(t.file);
      cases['bad-ei-version']![6] = 2;
      cases['truncated-header'] = t.file.subarray(0, 40);
      const wrap = Buffer.from(t.file);
      put(wrap, 'little', t.offsetOf['.note.gnu.build-id']! + 4, 4, 0xfffffffd);
      cases['note-descsz-wrap'] = wrap;
      const unterminated = Buffer.from(t.file);
      const strtabAt = t.offsetOf['.shstrtab']!;
      unterminated.fill(
        0x41,
        strtabAt + 1,
        strtabAt + Buffer.from('\0.note.gnu.build-id\0.text\0.debug_info\0.shstrtab\0').length,
      );
      cases['unterminated-strtab'] = unterminated;
      cases['note8'] = buildElf({
        cls: 64,
        order: 'little',
        type: ET_DYN,
        sections: [
          {
            name: '.note.gnu.property',
            type: SHT_NOTE,
            data: Buffer.concat([note('little', GNU, 5, Buffer.alloc(16, 7), 8), gnuNote('little', ID_B, 8)]),
            align: 8,
          },
          { name: '.zdebug_info', type: SHT_PROGBITS, data: Buffer.alloc(8) },
        ],
      }).file;
      const paths: Record<string, string> = {};
      for (const [name, buf] of Object.entries(cases)) {
        paths[name] = join(dir, name);
        await writeFile(paths[name]!, buf);
      }
      const verdicts = await debuginfodVerdicts(dir, Object.values(paths));
      const mismatches: string[] = [];
      for (const [name, buf] of Object.entries(cases)) {
        const v = verdicts.get(paths[name]!)!;
        const info = inspectBuffer(buf);
        const ours = {
          buildid: info?.gnuBuildId ?? '',
          atype: `${info?.executable ? 'E' : ''}${info?.debuginfo ? 'D' : ''}`,
        };
        if (ours.buildid !== v.buildid || ours.atype !== v.atype)
          mismatches.push(`${name}: debuginfod ${JSON.stringify(v)}, ours ${JSON.stringify(ours)}`);
      }
      expect(mismatches).toEqual([]);
    },
  );
});
