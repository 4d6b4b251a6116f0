/**
 * Unit tests for the dynamic section reader (src/elf/dynamic.ts), the
 * loader's search rules (src/elf/library-search.ts) and the library walk
 * over a system tree (src/system/needed.ts).
 *
 * Real inputs: /bin/ls against `readelf -d` and the loader's own `ldd`
 * listing, and a program built with gcc into a fake system tree (RUNPATH
 * $ORIGIN, ld.so.conf with an include glob, the default directories).
 * ELF32 and big-endian files, and hostile ones, come from the small builder
 * below, which lays out a dynamic object field by field.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { bufferSource, readDynamic, type ByteSource, type DynamicInfo } from '../src/elf/index.js';
import {
  expandTokens,
  globComponentMatcher,
  loadLdSoConf,
  objectSearchPaths,
  parseLdSoConf,
  searchDirs,
} from '../src/elf/library-search.js';
import { MAX_DYNAMIC_STRINGS } from '../src/elf/limits.js';
import { PackdebugError } from '../src/errors.js';
import { resolveNeeded, type NeededLibrary } from '../src/system/needed.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const run = promisify(execFile);
const hasGcc = requireTool('gcc');
const hasReadelf = requireTool('readelf');
const hasLdd = requireTool('ldd');

// ---------------------------------------------------------------------------
// A small builder of dynamic objects, either class and byte order.

type Cls = 32 | 64;
type Order = 'little' | 'big';

const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_FLAGS_1 = 0x6ffffffb;
const DF_1_NODEFLIB = 0x800;
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_386 = 3;
const EM_PPC = 20;
const EM_PPC64 = 21;
const EM_X86_64 = 62;
/** Where the builder's single PT_LOAD is mapped. */
const BASE = 0x10000;

function writer(buf: Buffer, order: Order) {
  const le = order === 'little';
  return {
    u16: (at: number, v: number) => (le ? buf.writeUInt16LE(v, at) : buf.writeUInt16BE(v, at)),
    u32: (at: number, v: number) => (le ? buf.writeUInt32LE(v, at) : buf.writeUInt32BE(v, at)),
    u64: (at: number, v: number | bigint) =>
      le ? buf.writeBigUInt64LE(BigInt(v), at) : buf.writeBigUInt64BE(BigInt(v), at),
  };
}

/** A dynamic string table: a NUL, then each string with its NUL; `at` finds a string's offset. */
function strtab(...strings: string[]): { buf: Buffer; at: (s: string) => number } {
  const buf = Buffer.from(`\0${strings.map((s) => `${s}\0`).join('')}`, 'utf8');
  return { buf, at: (s) => buf.indexOf(Buffer.from(`\0${s}\0`, 'utf8')) + 1 };
}

interface Spec {
  cls?: Cls;
  order?: Order;
  machine?: number;
  eType?: number;
  /** PT_INTERP contents (a string gets its NUL). */
  interp?: string | Buffer;
  strtab?: Buffer;
  /** Dynamic entries; DT_STRTAB and DT_STRSZ (first) and DT_NULL (last) are added unless given (or noNull). */
  dyn?: Array<[number, number | bigint]>;
  noNull?: boolean;
  /** 'sections': no program headers, an SHT_DYNAMIC section whose sh_link is the string table. */
  layout?: 'segments' | 'sections';
  /** Overrides PT_DYNAMIC's p_filesz. */
  dynFilesz?: number | bigint;
  /** Overrides PT_INTERP's p_filesz. */
  interpFilesz?: number;
  /** Bytes after the dynamic array (inside the PT_LOAD). */
  tail?: Buffer;
}

function buildElf(spec: Spec): Buffer {
  const cls = spec.cls ?? 64;
  const order = spec.order ?? 'little';
  const sz = cls === 32 ? { eh: 52, ph: 32, sh: 40, dyn: 8 } : { eh: 64, ph: 56, sh: 64, dyn: 16 };
  const segments = (spec.layout ?? 'segments') === 'segments';
  const interp = typeof spec.interp === 'string' ? Buffer.from(`${spec.interp}\0`) : spec.interp;
  const strings = spec.strtab ?? Buffer.alloc(1);
  const phnum = segments ? (interp ? 3 : 2) : 0;
  let pos = sz.eh + phnum * sz.ph;
  const interpOff = pos;
  pos += interp?.length ?? 0;
  const strOff = pos;
  pos += strings.length;
  pos = Math.ceil(pos / 8) * 8;
  const dynOff = pos;
  const dyn = [...(spec.dyn ?? [])];
  if (!dyn.some(([t]) => t === DT_STRSZ)) dyn.unshift([DT_STRSZ, strings.length]);
  if (!dyn.some(([t]) => t === DT_STRTAB)) dyn.unshift([DT_STRTAB, segments ? BASE + strOff : strOff]);
  if (!spec.noNull) dyn.push([0, 0]);
  pos += dyn.length * sz.dyn;
  const tailOff = pos;
  pos += spec.tail?.length ?? 0;
  const shnum = segments ? 0 : 3;
  const shoff = segments ? 0 : Math.ceil(pos / 8) * 8;
  const total = segments ? pos : shoff + shnum * sz.sh;
  const buf = Buffer.alloc(total);
  const w = writer(buf, order);
  buf.set([0x7f, 0x45, 0x4c, 0x46, cls === 32 ? 1 : 2, order === 'little' ? 1 : 2, 1]);
  w.u16(16, spec.eType ?? ET_DYN);
  w.u16(18, spec.machine ?? EM_X86_64);
  w.u32(20, 1);
  if (cls === 32) {
    w.u32(28, phnum > 0 ? sz.eh : 0);
    w.u32(32, shoff);
    [sz.eh, sz.ph, phnum, sz.sh, shnum, 0].forEach((v, i) => w.u16(40 + 2 * i, v));
  } else {
    w.u64(32, phnum > 0 ? sz.eh : 0);
    w.u64(40, shoff);
    [sz.eh, sz.ph, phnum, sz.sh, shnum, 0].forEach((v, i) => w.u16(52 + 2 * i, v));
  }
  const phdr = (i: number, type: number, offset: number, filesz: number | bigint) => {
    const at = sz.eh + i * sz.ph;
    const vaddr = BASE + offset;
    if (cls === 32) {
      [type, offset, vaddr, vaddr, Number(filesz), Number(filesz), 4, 1].forEach((v, k) => w.u32(at + 4 * k, v));
    } else {
      w.u32(at, type);
      w.u32(at + 4, 4);
      [offset, vaddr, vaddr, filesz, filesz, 1].forEach((v, k) => w.u64(at + 8 + 8 * k, v));
    }
  };
  if (segments) {
    let i = 0;
    if (interp) phdr(i++, PT_INTERP, interpOff, spec.interpFilesz ?? interp.length);
    phdr(i++, PT_LOAD, 0, total);
    phdr(i++, PT_DYNAMIC, dynOff, spec.dynFilesz ?? dyn.length * sz.dyn);
  }
  interp?.copy(buf, interpOff);
  strings.copy(buf, strOff);
  dyn.forEach(([tag, value], i) => {
    const at = dynOff + i * sz.dyn;
    if (cls === 32) {
      w.u32(at, Number(tag));
      w.u32(at + 4, Number(value));
    } else {
      w.u64(at, tag);
      w.u64(at + 8, value);
    }
  });
  spec.tail?.copy(buf, tailOff);
  if (!segments) {
    // [0] null, [1] the string table, [2] the dynamic section (sh_link 1).
    const shdr = (i: number, type: number, offset: number, size: number, link: number) => {
      const at = shoff + i * sz.sh;
      if (cls === 32) [0, type, 0, 0, offset, size, link, 0, 1, 0].forEach((v, k) => w.u32(at + 4 * k, v));
      else {
        w.u32(at + 4, type);
        w.u64(at + 24, offset);
        w.u64(at + 32, size);
        w.u32(at + 40, link);
      }
    };
    shdr(1, 3, strOff, strings.length, 0);
    shdr(2, 6, dynOff, dyn.length * sz.dyn, 1);
  }
  return buf;
}

interface LibSpec {
  cls?: Cls;
  order?: Order;
  machine?: number;
  eType?: number;
  needed?: string[];
  soname?: string;
  rpath?: string;
  runpath?: string;
  interp?: string;
  nodeflib?: boolean;
  layout?: 'segments' | 'sections';
}

/** A dynamic object with the given names (64-bit little-endian x86-64 unless told). */
function lib(spec: LibSpec = {}): Buffer {
  const needed = spec.needed ?? [];
  const named = [...needed, spec.soname, spec.rpath, spec.runpath].filter((s): s is string => s !== undefined);
  const table = strtab(...new Set(named));
  const dyn: Array<[number, number]> = needed.map((n) => [DT_NEEDED, table.at(n)]);
  if (spec.soname !== undefined) dyn.push([DT_SONAME, table.at(spec.soname)]);
  if (spec.rpath !== undefined) dyn.push([DT_RPATH, table.at(spec.rpath)]);
  if (spec.runpath !== undefined) dyn.push([DT_RUNPATH, table.at(spec.runpath)]);
  if (spec.nodeflib) dyn.push([DT_FLAGS_1, DF_1_NODEFLIB]);
  return buildElf({ ...spec, strtab: table.buf, dyn });
}

function dynamicOf(buf: Buffer): DynamicInfo {
  const info = readDynamic(bufferSource(buf));
  expect(info).toBeDefined();
  return info!;
}

// ---------------------------------------------------------------------------

describe('readDynamic on built files of each class and byte order', () => {
  const abis: Array<{ cls: Cls; order: Order; machine: number }> = [
    { cls: 64, order: 'little', machine: EM_X86_64 },
    { cls: 64, order: 'big', machine: EM_PPC64 },
    { cls: 32, order: 'little', machine: EM_386 },
    { cls: 32, order: 'big', machine: EM_PPC },
  ];
  for (const abi of abis) {
    for (const layout of ['segments', 'sections'] as const) {
      it(`ELF${abi.cls} ${abi.order}-endian, through ${layout === 'segments' ? 'PT_DYNAMIC' : 'SHT_DYNAMIC'}`, () => {
        const info = dynamicOf(
          lib({
            ...abi,
            layout,
            needed: ['libfoo.so.1', 'libbar.so.2', 'libfoo.so.1'],
            soname: 'libself.so.3',
            rpath: '/opt/r1:$ORIGIN/../r2',
            runpath: '$ORIGIN:/opt/run::',
            nodeflib: true,
            ...(layout === 'segments' ? { interp: '/lib/ld.so.1' } : {}),
          }),
        );
        expect(info).toEqual({
          needed: ['libfoo.so.1', 'libbar.so.2', 'libfoo.so.1'],
          soname: 'libself.so.3',
          rpath: ['/opt/r1', '$ORIGIN/../r2'],
          runpath: ['$ORIGIN', '/opt/run', '', ''],
          nodeflib: true,
          dynamic: true,
          elfClass: abi.cls,
          byteOrder: abi.order,
          machine: abi.machine,
          ...(layout === 'segments' ? { interpreter: '/lib/ld.so.1' } : {}),
        });
      });
    }
  }

  it('a file without a dynamic section, and files that are not ELF', () => {
    const staticExe = buildElf({ eType: ET_EXEC, dyn: [] });
    // Drop PT_DYNAMIC: phnum 1 (PT_LOAD only).
    staticExe.writeUInt16LE(1, 56);
    staticExe.writeUInt32LE(PT_LOAD, 64);
    expect(dynamicOf(staticExe)).toEqual({
      needed: [],
      dynamic: false,
      elfClass: 64,
      byteOrder: 'little',
      machine: EM_X86_64,
    });
    expect(readDynamic(bufferSource(Buffer.from('#!/bin/sh\necho hello\n')))).toBeUndefined();
    expect(readDynamic(bufferSource(Buffer.alloc(0)))).toBeUndefined();
    const throwing: ByteSource = {
      size: 4096,
      read() {
        throw new Error('EIO');
      },
    };
    expect(readDynamic(throwing)).toBeUndefined();
  });

  it('the last DT_SONAME, DT_RUNPATH and DT_STRTAB count, as in ld.so; DT_RPATH is kept beside DT_RUNPATH', () => {
    const t = strtab('liba.so', 'first', 'second', '/run', '/rp');
    const info = dynamicOf(
      buildElf({
        strtab: t.buf,
        dyn: [
          [DT_SONAME, t.at('first')],
          [DT_NEEDED, t.at('liba.so')],
          [DT_SONAME, t.at('second')],
          [DT_RPATH, t.at('/rp')],
          [DT_RUNPATH, t.at('/run')],
        ],
      }),
    );
    expect(info).toMatchObject({ needed: ['liba.so'], soname: 'second', runpath: ['/run'], rpath: ['/rp'] });
    expect(info.malformed).toBeUndefined();
  });
});

describe('readDynamic on hostile input', () => {
  const t = strtab('libgood.so', 'libother.so');
  const good: Array<[number, number]> = [
    [DT_NEEDED, t.at('libgood.so')],
    [DT_NEEDED, t.at('libother.so')],
  ];

  it('DT_STRTAB pointing outside every PT_LOAD, or outside the file', () => {
    for (const addr of [0, BASE - 1, BASE + 1_000_000, 2 ** 40, 2 ** 60]) {
      const info = dynamicOf(buildElf({ strtab: t.buf, dyn: [...good, [DT_STRTAB, addr]] }));
      expect(info.needed).toEqual([]);
      expect(info.malformed).toMatch(/DT_STRTAB.*not in the file part of any PT_LOAD/);
    }
    // Inside the PT_LOAD, but DT_STRSZ runs past the end of the file: the strings that fit are read.
    const info = dynamicOf(buildElf({ strtab: t.buf, dyn: [...good, [DT_STRSZ, 2 ** 32 - 1]] }));
    expect(info.needed).toEqual(['libgood.so', 'libother.so']);
  });

  it('string offsets beyond DT_STRSZ, and strings without their NUL', () => {
    const beyond = dynamicOf(
      buildElf({ strtab: t.buf, dyn: [...good, [DT_NEEDED, t.buf.length + 5], [DT_NEEDED, 2 ** 31]] }),
    );
    expect(beyond.needed).toEqual(['libgood.so', 'libother.so']);
    expect(beyond.malformed).toMatch(/lies outside the dynamic string table/);

    // The last string runs to the end of the table (DT_STRSZ), then on into the dynamic array.
    const unterminated = Buffer.concat([t.buf, Buffer.from('libcut.so')]);
    const cut = dynamicOf(buildElf({ strtab: unterminated, dyn: [...good, [DT_NEEDED, t.buf.length]] }));
    expect(cut.needed).toEqual(['libgood.so', 'libother.so']);
    expect(cut.malformed).toMatch(/not NUL-terminated/);

    // The table is the whole file (DT_STRSZ larger still); the last string runs into its end.
    const endlessAt = (at: number): Spec => ({
      strtab: t.buf,
      dyn: [
        [DT_NEEDED, at],
        [DT_STRTAB, BASE],
        [DT_STRSZ, 2 ** 40],
      ],
      tail: Buffer.from('endless'),
    });
    const file = buildElf(endlessAt(buildElf(endlessAt(0)).length - 7));
    const endless = dynamicOf(file);
    expect(endless.needed).toEqual([]);
    expect(endless.malformed).toMatch(/not NUL-terminated/);
  });

  it('PT_DYNAMIC with a huge p_filesz: read up to DT_NULL, reported', () => {
    for (const cls of [32, 64] as const) {
      const huge = cls === 32 ? 0xffffffff : 2n ** 62n;
      const info = dynamicOf(buildElf({ cls, strtab: t.buf, dyn: good, dynFilesz: huge }));
      expect(info.needed).toEqual(['libgood.so', 'libother.so']);
      expect(info.malformed).toMatch(/PT_DYNAMIC segment extends past the end of the file/);
    }
  });

  it('a dynamic array without DT_NULL, and one that repeats DT_NEEDED past the caps', () => {
    const noNull = dynamicOf(buildElf({ strtab: t.buf, dyn: good, noNull: true }));
    expect(noNull.needed).toEqual(['libgood.so', 'libother.so']);
    expect(noNull.malformed).toMatch(/no DT_NULL/);

    const many: Array<[number, number]> = Array.from({ length: 70_000 }, () => [DT_NEEDED, t.at('libgood.so')]);
    const capped = dynamicOf(buildElf({ strtab: t.buf, dyn: many, noNull: true }));
    expect(capped.needed.length).toBe(MAX_DYNAMIC_STRINGS);
    expect(capped.incomplete).toMatch(/dynamic strings were read/);
    expect(capped.incomplete).toMatch(/entries of the PT_DYNAMIC segment were examined/);
  });

  it('a string without a NUL for megabytes stops at the per-string cap', () => {
    const big = Buffer.alloc(3 << 20, 0x61);
    big[0] = 0;
    const info = dynamicOf(buildElf({ strtab: big, dyn: [[DT_NEEDED, 1]] }));
    expect(info.needed).toEqual([]);
    expect(info.incomplete).toMatch(/a dynamic string longer than/);
  });

  it('PT_INTERP without its NUL, or outside the file', () => {
    const open = dynamicOf(buildElf({ strtab: t.buf, dyn: good, interp: Buffer.from('/lib/ld.so') }));
    expect(open.interpreter).toBeUndefined();
    expect(open.malformed).toMatch(/PT_INTERP segment is not NUL-terminated/);
    const outside = dynamicOf(buildElf({ strtab: t.buf, dyn: good, interp: '/lib/ld.so', interpFilesz: 2 ** 31 }));
    expect(outside.interpreter).toBe('/lib/ld.so');
    expect(outside.malformed).toMatch(/PT_INTERP segment extends past the end/);
    expect(outside.needed).toEqual(['libgood.so', 'libother.so']);
  });

  it('an SHT_DYNAMIC whose sh_link is no string table', () => {
    const file = buildElf({ layout: 'sections', strtab: t.buf, dyn: good });
    const shoff = Number(file.readBigUInt64LE(40));
    file.writeUInt32LE(77, shoff + 2 * 64 + 40); // sh_link of section 2
    const info = dynamicOf(file);
    expect(info).toMatchObject({ dynamic: true, needed: [] });
    expect(info.malformed).toMatch(/sh_link \(77\)/);
  });

  it('never throws on truncations and byte flips of a valid file', () => {
    const file = lib({ needed: ['libc.so.6', 'libm.so.6'], runpath: '$ORIGIN', interp: '/lib64/ld.so' });
    const file32 = lib({ cls: 32, order: 'big', machine: EM_PPC, needed: ['libc.so.6'], soname: 'x' });
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (const original of [file, file32]) {
      for (let length = 0; length <= original.length; length++) readDynamic(bufferSource(original.subarray(0, length)));
      for (let round = 0; round < 3000; round++) {
        const copy = Buffer.from(original);
        for (let k = 0; k < 4; k++) copy[16 + Math.floor(random() * (copy.length - 16))] = Math.floor(random() * 256);
        const info = readDynamic(bufferSource(copy));
        expect(info === undefined || Array.isArray(info.needed)).toBe(true);
      }
    }
  });
});

describe.skipIf(!hasReadelf)('readDynamic on /bin/ls', () => {
  it('lists the DT_NEEDED names, the interpreter and the RUNPATH that readelf shows', async () => {
    const file = await realpath('/bin/ls');
    const info = dynamicOf(await readFile(file));
    const dump = (await run('readelf', ['-d', '-l', '-W', file], { env: { ...process.env, LC_ALL: 'C' } })).stdout;
    const needed = [...dump.matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1]);
    expect(needed.length).toBeGreaterThan(0);
    expect(info.needed).toEqual(needed);
    expect(info.interpreter).toBe(/Requesting program interpreter: (.*)\]/.exec(dump)?.[1]);
    const runpath = /\(RUNPATH\)\s+Library runpath: \[(.*)\]/.exec(dump)?.[1];
    expect(info.runpath).toEqual(runpath === undefined ? undefined : runpath.split(':'));
    expect(info.malformed).toBeUndefined();
    expect(info.incomplete).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------

describe('ld.so.conf', () => {
  it('parses like ldconfig: comments, include lines with several patterns, DIR=TYPE, trailing slashes', () => {
    const text = [
      '# a comment',
      '  /usr/local/lib   # trailing comment',
      '\t/opt/with space/lib//  ',
      'include /etc/a/*.conf\tb/*.conf',
      'include',
      'includes/lib',
      '/usr/libc5=libc5',
      '/',
      '',
    ].join('\n');
    expect(parseLdSoConf(text)).toEqual([
      { kind: 'dir', dir: '/usr/local/lib' },
      { kind: 'dir', dir: '/opt/with space/lib' },
      { kind: 'include', patterns: ['/etc/a/*.conf', 'b/*.conf'] },
      { kind: 'dir', dir: 'include' },
      { kind: 'dir', dir: 'includes/lib' },
      { kind: 'dir', dir: '/usr/libc5' },
    ]);
  });

  it('follows includes depth first, relative to the including file, in sorted order; each file once', async () => {
    const files: Record<string, string> = {
      '/etc/ld.so.conf': '/first\ninclude ld.so.conf.d/*.conf\n/last\ninclude /etc/ld.so.conf\n',
      '/etc/ld.so.conf.d/b.conf': '/b\ninclude sub/*.conf\n',
      '/etc/ld.so.conf.d/a.conf': '/a\n/first\n',
      '/etc/ld.so.conf.d/sub/x.conf': '/x\nrelative/dir\n',
    };
    const globs: string[] = [];
    const conf = await loadLdSoConf('/etc/ld.so.conf', {
      read: async (file) => files[file],
      glob: async (pattern) => {
        globs.push(pattern);
        const re = new RegExp(`^${pattern.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`);
        return Object.keys(files).filter((f) => re.test(f));
      },
    });
    expect(conf.dirs).toEqual(['/first', '/a', '/b', '/x', '/last']);
    expect(globs).toEqual(['/etc/ld.so.conf.d/*.conf', '/etc/ld.so.conf.d/sub/*.conf', '/etc/ld.so.conf']);
    expect(conf.notes).toEqual(['/etc/ld.so.conf.d/sub/x.conf: relative directory relative/dir ignored']);
  });

  it('notes files it cannot read and goes on; a missing ld.so.conf is no directories', async () => {
    const conf = await loadLdSoConf('/etc/ld.so.conf', {
      read: async (file) => {
        if (file === '/etc/ld.so.conf') return 'include /etc/d/*\n/after\n';
        throw new Error('permission denied');
      },
      glob: async () => ['/etc/d/x'],
    });
    expect(conf).toEqual({ dirs: ['/after'], notes: ['/etc/d/x: permission denied'] });
    expect(await loadLdSoConf('/etc/ld.so.conf', { read: async () => undefined, glob: async () => [] })).toEqual({
      dirs: [],
      notes: [],
    });
  });

  it('matches glob components like glob(3)', () => {
    const m = (pattern: string, name: string) => globComponentMatcher(pattern)(name);
    expect(m('*.conf', 'x86_64-linux-gnu.conf')).toBe(true);
    expect(m('*.conf', '.hidden.conf')).toBe(false);
    expect(m('.*.conf', '.hidden.conf')).toBe(true);
    expect(m('*.conf', 'a.conf.bak')).toBe(false);
    expect(m('lib?.conf', 'libc.conf')).toBe(true);
    expect(m('[a-c]*', 'b.conf')).toBe(true);
    expect(m('[!a-c]*', 'b.conf')).toBe(false);
    expect(m('[]x]', ']')).toBe(true);
    expect(m('\\*', '*')).toBe(true);
    expect(m('\\*', 'a')).toBe(false);
    expect(m('[unclosed', '[unclosed')).toBe(true);
    expect(m('a(b)+', 'a(b)+')).toBe(true);
  });
});

describe('dynamic string tokens and search order', () => {
  const values = { origin: '/opt/app/bin', lib: 'lib64', platform: 'x86_64' };

  it('expands $ORIGIN, $LIB and $PLATFORM as glibc does', () => {
    expect(expandTokens('$ORIGIN/../$LIB', values)).toBe('/opt/app/bin/../lib64');
    expect(expandTokens('${ORIGIN}/x/${PLATFORM}', values)).toBe('/opt/app/bin/x/x86_64');
    expect(expandTokens('$ORIGINAL/$LIBS/$HOME', values)).toBe('$ORIGINAL/$LIBS/$HOME');
    expect(expandTokens('${ORIGIN/x', values)).toBe('${ORIGIN/x');
    expect(expandTokens('/a$ORIGIN', values)).toBe('/a/opt/app/bin');
    expect(expandTokens('/usr/$PLATFORM/lib', { origin: '/x' })).toBeUndefined();
    expect(expandTokens('/plain', {})).toBe('/plain');
  });

  it('RPATH of the loading chain unless the needing object has RUNPATH; RUNPATH not inherited; NODEFLIB', () => {
    const main = objectSearchPaths({ rpath: ['/main/rpath', '$ORIGIN'] }, { origin: '/bin' });
    const withRunpath = objectSearchPaths({ rpath: ['/ignored'], runpath: ['/own/run', 'rel', ''] }, {});
    const plain = objectSearchPaths({}, {});
    expect(main).toEqual({ rpath: ['/main/rpath', '/bin'], runpath: undefined, nodeflib: false });
    expect(withRunpath).toEqual({ rpath: [], runpath: ['/own/run'], nodeflib: false });

    const conf = ['/conf', '/usr/lib64'];
    const defaults = ['/lib64', '/usr/lib64'];
    const dirs = (chain: Parameters<typeof searchDirs>[0]) => searchDirs(chain, conf, defaults).dirs;
    expect(dirs([plain, main])).toEqual([
      { dir: '/main/rpath', source: 'rpath' },
      { dir: '/bin', source: 'rpath' },
      { dir: '/conf', source: 'ld.so.conf' },
      { dir: '/usr/lib64', source: 'ld.so.conf' },
      { dir: '/lib64', source: 'default' },
    ]);
    expect(dirs([withRunpath, main]).map((d) => d.dir)).toEqual(['/own/run', '/conf', '/usr/lib64', '/lib64']);
    expect(dirs([plain, withRunpath, main]).map((d) => d.dir)).toEqual([
      '/main/rpath',
      '/bin',
      '/conf',
      '/usr/lib64',
      '/lib64',
    ]);
    const nodeflib = objectSearchPaths({ nodeflib: true }, {});
    expect(dirs([nodeflib, main]).map((d) => d.dir)).toEqual(['/main/rpath', '/bin', '/conf']);
  });
});

// ---------------------------------------------------------------------------
// resolveNeeded over fake system trees.

/** A new directory without symlinks in its path (the tree's paths are compared with the host's). */
async function realTmp(prefix: string): Promise<string> {
  return realpath(await tmpdir(prefix));
}

async function put(root: string, file: string, data: Buffer | string): Promise<string> {
  const full = path.join(root, file);
  await mkdir(path.dirname(full), { recursive: true });
  await writeFile(full, data);
  return full;
}

async function link(root: string, file: string, target: string): Promise<void> {
  const full = path.join(root, file);
  await mkdir(path.dirname(full), { recursive: true });
  await symlink(target, full);
}

/** name → where it was found inside the root ('-' when not found) and how. */
function summary(root: string, libraries: NeededLibrary[]): Record<string, string> {
  const inRoot = (p: string | undefined) => (p === undefined ? '-' : `/${path.relative(root, p)}`);
  return Object.fromEntries(libraries.map((l) => [l.name, `${inRoot(l.path)} ${l.via ?? 'missing'}`]));
}

describe('resolveNeeded in a fake system tree', () => {
  it('rpath inherited from the executable, runpath of the object only, ld.so.conf globs, defaults', async () => {
    const root = await realTmp('needed-order');
    await put(root, 'etc/ld.so.conf', '# fake\ninclude ld.so.conf.d/*.conf\n');
    await put(root, 'etc/ld.so.conf.d/10-opt.conf', '/opt/conf/lib\n');
    await put(
      root,
      'opt/app/bin/prog',
      lib({ eType: ET_EXEC, needed: ['libviarpath.so', 'librunpathed.so', 'libconf.so'], rpath: '/opt/rp' }),
    );
    await put(root, 'opt/rp/libviarpath.so', lib({ needed: ['libinherited.so'] }));
    await put(root, 'opt/rp/libinherited.so', lib());
    // Has RUNPATH: the executable's RPATH is not searched for its own needs.
    await put(root, 'opt/rp/librunpathed.so', lib({ needed: ['libonlyrpath.so', 'libdefault.so'], runpath: '/none' }));
    await put(root, 'opt/rp/libonlyrpath.so', lib());
    await put(root, 'opt/conf/lib/libconf.so', lib());
    await put(root, 'usr/lib64/libdefault.so', lib());
    const { libraries, incomplete } = await resolveNeeded(path.join(root, 'opt/app/bin/prog'), { root });
    expect(incomplete).toBeUndefined();
    expect(summary(root, libraries)).toEqual({
      'libviarpath.so': '/opt/rp/libviarpath.so rpath',
      'librunpathed.so': '/opt/rp/librunpathed.so rpath',
      'libconf.so': '/opt/conf/lib/libconf.so ld.so.conf',
      'libinherited.so': '/opt/rp/libinherited.so rpath',
      'libonlyrpath.so': '- missing',
      'libdefault.so': '/usr/lib64/libdefault.so default',
    });
    expect(libraries.find((l) => l.name === 'libinherited.so')?.neededBy).toBe(
      path.join(root, 'opt/rp/libviarpath.so'),
    );
    expect(libraries.find((l) => l.name === 'libviarpath.so')?.neededBy).toBe(path.join(root, 'opt/app/bin/prog'));
  });

  it('tokens, names with a slash, NODEFLIB, multiarch, wrong-ABI candidates and sonames', async () => {
    const root = await realTmp('needed-tokens');
    await put(root, 'etc/ld.so.conf', '/opt/conf\n');
    await put(
      root,
      'opt/app/bin/prog',
      lib({
        needed: ['libtok.so', 'libplat.so', '/opt/abs/libabs.so', '$ORIGIN/sub/librel.so', 'libwrong.so', 'libsame.so'],
        runpath: '$ORIGIN/../$LIB:/opt/${PLATFORM}/lib:/opt/$UNKNOWN',
      }),
    );
    await put(root, 'opt/app/x86_64-linux-gnu/libtok.so', lib());
    await put(root, 'opt/x86_64/lib/libplat.so', lib());
    await put(root, 'opt/abs/libabs.so', lib());
    await put(root, 'opt/app/bin/sub/librel.so', lib());
    // Wrong class, byte order, machine, and not ELF: skipped; the 64-bit x86-64 one further on is taken.
    await put(root, 'opt/conf/libwrong.so', lib({ cls: 32, machine: EM_386 }));
    await put(root, 'usr/lib/x86_64-linux-gnu/libwrong.so', lib({ order: 'big' }));
    await put(root, 'lib64/libwrong.so', 'INPUT(-lc)\n');
    await put(root, 'usr/lib64/libwrong.so', lib({ machine: EM_PPC64 }));
    await put(root, 'lib/libwrong.so', lib({ needed: ['libsame.so.1'] }));
    // Found as libsame.so, then asked for by its soname: one object.
    await put(
      root,
      'lib/x86_64-linux-gnu/libsame.so',
      lib({ soname: 'libsame.so.1', nodeflib: true, needed: ['libd.so'] }),
    );
    await put(root, 'lib64/libd.so', lib());
    const { libraries } = await resolveNeeded(path.join(root, 'opt/app/bin/prog'), { root });
    expect(summary(root, libraries)).toEqual({
      'libtok.so': '/opt/app/x86_64-linux-gnu/libtok.so runpath',
      'libplat.so': '/opt/x86_64/lib/libplat.so runpath',
      '/opt/abs/libabs.so': '/opt/abs/libabs.so path',
      '$ORIGIN/sub/librel.so': '/opt/app/bin/sub/librel.so path',
      'libwrong.so': '/lib/libwrong.so default',
      'libsame.so': '/lib/x86_64-linux-gnu/libsame.so default',
      'libd.so': '- missing', // NODEFLIB on libsame.so
    });
  });

  it('a needed cycle between two libraries ends; a file under two names is loaded once', async () => {
    const root = await realTmp('needed-cycle');
    await put(root, 'bin/prog', lib({ needed: ['libx.so', 'libz.so.1'] }));
    await put(root, 'usr/lib64/libx.so', lib({ needed: ['liby.so'], soname: 'libx.so' }));
    await put(root, 'usr/lib64/liby.so', lib({ needed: ['libx.so', 'liby.so', 'libz.so.1.0'] }));
    await put(root, 'usr/lib64/libz.so.1.0', lib({ needed: ['libx.so'] }));
    await link(root, 'usr/lib64/libz.so.1', 'libz.so.1.0');
    const { libraries } = await resolveNeeded(path.join(root, 'bin/prog'), { root });
    expect(summary(root, libraries)).toEqual({
      'libx.so': '/usr/lib64/libx.so default',
      'libz.so.1': '/usr/lib64/libz.so.1 default',
      'liby.so': '/usr/lib64/liby.so default',
    });
    expect(libraries.find((l) => l.name === 'libz.so.1')?.realPath).toBe(path.join(root, 'usr/lib64/libz.so.1.0'));
  });

  it('never follows a symlink out of the root', async () => {
    const outside = await realTmp('needed-outside');
    await put(outside, 'libout.so', lib());
    await put(outside, 'evil.conf', `${outside}\n`);
    await put(outside, 'lib64/libup.so', lib());
    const root = await realTmp('needed-root');
    await put(root, 'etc/ld.so.conf', 'include /etc/ld.so.conf.d/*.conf\n');
    await link(root, 'etc/ld.so.conf.d/evil.conf', path.join(outside, 'evil.conf'));
    await put(root, 'bin/prog', lib({ needed: ['libout.so', 'libup.so', 'libin.so'], runpath: '/escape' }));
    await link(root, 'usr/lib64/libout.so', path.join(outside, 'libout.so'));
    await link(root, 'escape', path.relative(root, outside)); // ../packdebug-needed-outside-...
    await link(root, 'usr/lib64/libup.so', '../../../../../../../../..' + path.join(outside, 'lib64/libup.so'));
    // An absolute symlink means the same path inside the tree, as after chroot.
    await link(root, 'usr/lib64/libin.so', '/opt/in/libin.so');
    await put(root, 'opt/in/libin.so', lib());
    const { libraries, incomplete } = await resolveNeeded(path.join(root, 'bin/prog'), { root });
    expect(incomplete).toBeUndefined();
    expect(summary(root, libraries)).toEqual({
      'libout.so': '- missing',
      'libup.so': '- missing',
      'libin.so': '/usr/lib64/libin.so default',
    });
    expect(libraries.find((l) => l.name === 'libin.so')?.realPath).toBe(path.join(root, 'opt/in/libin.so'));
    // Through a symlink that leaves the root, the file itself is refused too.
    await link(root, 'bin/outside-prog', path.join(outside, 'libout.so'));
    await expect(resolveNeeded(path.join(root, 'bin/outside-prog'), { root })).rejects.toThrow(/no such file inside/);
  });

  it('refuses files outside the root, missing files and files that are not ELF', async () => {
    const root = await realTmp('needed-errors');
    const other = await realTmp('needed-other');
    await put(other, 'prog', lib());
    await put(root, 'script', '#!/bin/sh\n');
    const expectInput = async (promise: Promise<unknown>, message: RegExp) => {
      const err = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PackdebugError);
      expect((err as PackdebugError).code).toBe('E_INPUT');
      expect((err as PackdebugError).message).toMatch(message);
    };
    await expectInput(resolveNeeded(path.join(other, 'prog'), { root }), /not inside the system root/);
    await expectInput(resolveNeeded(path.join(root, 'missing'), { root }), /no such file inside/);
    await expectInput(resolveNeeded(path.join(root, 'script'), { root }), /script: not an ELF file/);
    await expectInput(resolveNeeded(path.join(root, 'script'), { root: path.join(root, 'nope') }), /no such directory/);
    await expect(resolveNeeded(path.join(other, 'missing'))).rejects.toThrow(/missing/);
  });
});

describe.skipIf(!hasGcc || !hasReadelf)('resolveNeeded on programs built by gcc', () => {
  let root: string;
  let prog: string;
  let hostLibc: string | undefined;
  let hostInterp: string | undefined;

  beforeAll(async () => {
    root = await realTmp('needed-gcc');
    const src = await realTmp('needed-gcc-src');
    await writeFile(path.join(src, 'a.c'), 'int a(void) { return 1; }\n');
    await writeFile(path.join(src, 'b.c'), 'int b(void) { return 2; }\n');
    await writeFile(
      path.join(src, 'main.c'),
      'int a(void); int b(void);\nint main(void) { return a() + b() == 3 ? 0 : 1; }\n',
    );
    await mkdir(path.join(root, 'opt/app/bin'), { recursive: true });
    await mkdir(path.join(root, 'opt/app/lib'), { recursive: true });
    await mkdir(path.join(root, 'usr/lib64'), { recursive: true });
    const liba = path.join(root, 'opt/app/lib/liba.so');
    const libb = path.join(root, 'usr/lib64/libb.so.1');
    await run('gcc', ['-shared', '-fPIC', '-Wl,-soname,liba.so', '-o', liba, path.join(src, 'a.c')]);
    await run('gcc', ['-shared', '-fPIC', '-Wl,-soname,libb.so.1', '-o', libb, path.join(src, 'b.c')]);
    prog = path.join(root, 'opt/app/bin/prog');
    await run('gcc', [
      '-o',
      prog,
      path.join(src, 'main.c'),
      liba,
      libb,
      '-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib',
    ]);
    // The fake system's own libc and loader: this machine's.
    hostInterp = dynamicOf(await readFile(prog)).interpreter;
    const libc = (await run('gcc', ['-print-file-name=libc.so.6'])).stdout.trim();
    hostLibc = path.isAbsolute(libc) ? libc : undefined;
    if (hostLibc !== undefined) await copyFile(hostLibc, path.join(root, 'usr/lib64/libc.so.6'));
    if (hostInterp !== undefined) {
      await copyFile(hostInterp, path.join(root, 'usr/lib64', path.basename(hostInterp)));
      // A merged-/usr tree: /lib64 -> usr/lib64.
      if (path.dirname(hostInterp) === '/lib64') await symlink('usr/lib64', path.join(root, 'lib64'));
    }
    // libb.so.1 is in /usr/lib64, which ld.so.conf lists again through an include glob.
    await put(root, 'etc/ld.so.conf', 'include ld.so.conf.d/*.conf\n');
    await put(root, 'etc/ld.so.conf.d/lib64.conf', '/usr/lib64\n');
  });

  it('finds liba.so through RUNPATH $ORIGIN and libb.so.1 through ld.so.conf', async () => {
    const dynamic = dynamicOf(await readFile(prog));
    expect(dynamic.needed.slice(0, 2)).toEqual(['liba.so', 'libb.so.1']);
    expect(dynamic.runpath).toEqual(['$ORIGIN/../lib']);
    expect(dynamic.rpath).toBeUndefined();

    const { libraries, incomplete, malformed } = await resolveNeeded(prog, { root });
    expect(incomplete).toBeUndefined();
    expect(malformed).toBeUndefined();
    const found = summary(root, libraries);
    expect(found['liba.so']).toBe('/opt/app/lib/liba.so runpath');
    expect(found['libb.so.1']).toBe('/usr/lib64/libb.so.1 ld.so.conf');
    if (hostLibc !== undefined) expect(found['libc.so.6']).toBe('/usr/lib64/libc.so.6 ld.so.conf');
    if (hostInterp === '/lib64/ld-linux-x86-64.so.2') {
      // The loader is listed once, as the interpreter: libc's DT_NEEDED on it matches its soname.
      expect(found[hostInterp]).toBe('/lib64/ld-linux-x86-64.so.2 interpreter');
      const interp = libraries.find((l) => l.name === hostInterp)!;
      expect(interp.realPath).toBe(path.join(root, 'usr/lib64/ld-linux-x86-64.so.2'));
      expect(libraries.map((l) => l.name)).toEqual([hostInterp, 'liba.so', 'libb.so.1', 'libc.so.6']);
    }
    expect(libraries.find((l) => l.name === 'liba.so')?.neededBy).toBe(prog);
  });

  it('with ld.so.conf gone, libb.so.1 is still found in the default /usr/lib64', async () => {
    const bare = await realTmp('needed-gcc-bare');
    await put(bare, 'opt/app/bin/prog', await readFile(prog));
    await put(bare, 'opt/app/lib/liba.so', await readFile(path.join(root, 'opt/app/lib/liba.so')));
    await put(bare, 'usr/lib64/libb.so.1', await readFile(path.join(root, 'usr/lib64/libb.so.1')));
    const { libraries } = await resolveNeeded(path.join(bare, 'opt/app/bin/prog'), { root: bare });
    const found = summary(bare, libraries);
    expect(found['liba.so']).toBe('/opt/app/lib/liba.so runpath');
    expect(found['libb.so.1']).toBe('/usr/lib64/libb.so.1 default');
    if (hostLibc !== undefined) expect(found['libc.so.6']).toBe('- missing');
  });
});

describe.skipIf(!hasLdd)('resolveNeeded on this machine', () => {
  it('finds the files the loader loads for /bin/ls', async () => {
    const { libraries, incomplete } = await resolveNeeded('/bin/ls');
    expect(incomplete).toBeUndefined();
    const listing = (await run('ldd', ['/bin/ls'], { env: { ...process.env, LD_LIBRARY_PATH: '' } })).stdout;
    const loaded = [...listing.matchAll(/^\s*(?:\S+ => )?(\/\S+) \(0x/gm)].map((m) => m[1]!);
    expect(loaded.length).toBeGreaterThan(1);
    const real = async (files: string[]) => (await Promise.all(files.map((f) => realpath(f)))).sort();
    expect(libraries.every((l) => l.path !== undefined)).toBe(true);
    expect(libraries.map((l) => l.realPath).sort()).toEqual(await real(loaded));
  });
});
