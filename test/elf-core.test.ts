/**
 * The core reader (src/elf/core.ts, core-modules.ts) on synthetic cores:
 * both classes and byte orders, and hostile ones (truncated, bad note
 * sizes, NT_FILE claiming millions of entries, absurd build-id notes).
 * Real cores (gcore, the kernel) are in core.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { coreModules, parsePackageNote } from '../src/elf/core-modules.js';
import { readCore, type CoreFile } from '../src/elf/core.js';
import { bufferSource } from '../src/elf/index.js';
import { safeRelative } from '../src/crash/fetch.js';
import { ElfCapture, UNKNOWN_SIZE } from '../src/elf/capture.js';
import {
  auxvNote,
  buildCore,
  fileNote,
  modulePage,
  note,
  NT_AUXV,
  NT_FILE,
  NT_PRPSINFO,
} from './helpers/core-builder.js';

const ID = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
const ID2 = Buffer.from('fedcba9876543210fedcba9876543210fedcba98', 'hex');

function read(buf: Buffer): CoreFile {
  const core = readCore(bufferSource(buf));
  if ('notCore' in core) throw new Error(`not a core: ${JSON.stringify(core)}`);
  return core;
}

function prpsinfo(command: string, args: string): Buffer {
  const d = Buffer.alloc(136);
  d.write(command, 136 - 96, 'latin1');
  d.write(args, 136 - 80, 'latin1');
  return d;
}

function twoLibCore(opts: { elfClass?: 32 | 64; order?: 'little' | 'big' } = {}): Buffer {
  const cls = opts.elfClass ?? 64;
  const order = opts.order ?? 'little';
  const a = cls === 32 ? 0x10000 : 0x7f0000000000;
  const b = cls === 32 ? 0x20000 : 0x7f0000100000;
  return buildCore({
    elfClass: cls,
    order,
    loads: [
      { vaddr: a, data: modulePage(ID, { elfClass: cls, order }), memsz: 0x3000 },
      { vaddr: b, data: modulePage(ID2, { elfClass: cls, order }), memsz: 0x3000 },
    ],
    notes: [
      {
        name: 'CORE',
        type: NT_FILE,
        desc: fileNote(
          [
            { start: a, end: a + 0x3000, pageOffset: 0, path: '/usr/lib64/liba.so.1' },
            { start: b, end: b + 0x3000, pageOffset: 0, path: '/usr/lib64/libb.so.2' },
          ],
          { elfClass: cls, order },
        ),
      },
      { name: 'CORE', type: NT_PRPSINFO, desc: prpsinfo('prog', 'prog --crash') },
    ],
  });
}

describe('readCore and coreModules', () => {
  for (const [cls, order] of [
    [64, 'little'],
    [64, 'big'],
    [32, 'little'],
    [32, 'big'],
  ] as const) {
    it(`finds the modules and build-ids of an ELF${cls} ${order}-endian core`, () => {
      const buf = twoLibCore({ elfClass: cls, order });
      const core = read(buf);
      expect(core.elfClass).toBe(cls);
      expect(core.files.map((f) => f.path)).toEqual(['/usr/lib64/liba.so.1', '/usr/lib64/libb.so.2']);
      expect(core.process.command).toBe('prog');
      expect(core.process.args).toBe('prog --crash');
      const modules = coreModules(core, bufferSource(buf));
      expect(modules.map((m) => [m.path, m.buildId, m.headerInCore])).toEqual([
        ['/usr/lib64/liba.so.1', ID.toString('hex'), true],
        ['/usr/lib64/libb.so.2', ID2.toString('hex'), true],
      ]);
      expect(modules[0]!.end - modules[0]!.start).toBe(0x3000);
    });
  }

  it('names the vDSO from AT_SYSINFO_EHDR and finds modules NT_FILE does not list', () => {
    const buf = buildCore({
      loads: [
        { vaddr: 0x7fff0000, data: modulePage(ID) },
        { vaddr: 0x7fff8000, data: modulePage(ID2) },
      ],
      notes: [{ name: 'CORE', type: NT_AUXV, desc: auxvNote([[33, 0x7fff0000]]) }],
    });
    const modules = coreModules(read(buf), bufferSource(buf));
    expect(modules.map((m) => [m.kind, m.buildId])).toEqual([
      ['vdso', ID.toString('hex')],
      ['library', ID2.toString('hex')],
    ]);
  });

  it('marks a module whose header page was not dumped, and one whose note was not', () => {
    const a = 0x400000;
    const b = 0x800000;
    const buf = buildCore({
      loads: [
        { vaddr: a, data: Buffer.alloc(0), memsz: 0x3000, flags: 5 },
        { vaddr: b, data: modulePage(ID, { noteAt: 0x1800, size: 0x1000 }), memsz: 0x3000 },
      ],
      notes: [
        {
          name: 'CORE',
          type: NT_FILE,
          desc: fileNote([
            { start: a, end: a + 0x3000, pageOffset: 0, path: '/nonexistent/libx.so' },
            { start: b, end: b + 0x3000, pageOffset: 0, path: '/nonexistent/liby.so' },
          ]),
        },
      ],
    });
    const modules = coreModules(read(buf), bufferSource(buf));
    expect(modules.map((m) => [m.path, m.headerInCore, m.buildId, m.noteNotDumped])).toEqual([
      ['/nonexistent/libx.so', false, undefined, undefined],
      ['/nonexistent/liby.so', true, undefined, true],
    ]);
  });

  it('reads .note.package (FDO packaging metadata), keeping string fields only', () => {
    const pkg = note(
      'FDO',
      0xcafe1a7e,
      Buffer.from('{"type":"ebuild","name":"app-misc/crash","version":"1.0","n":1,"x":{"y":1}}\0'),
    );
    const buf = buildCore({ loads: [{ vaddr: 0x10000, data: modulePage(ID, { extraNotes: pkg }) }], notes: [] });
    const [m] = coreModules(read(buf), bufferSource(buf));
    expect(m!.package).toEqual({ type: 'ebuild', name: 'app-misc/crash', version: '1.0' });
    expect(parsePackageNote(Buffer.from('not json'))).toBeUndefined();
    expect(parsePackageNote(Buffer.from('[1,2]'))).toBeUndefined();
  });

  it('tells a non-core ELF file and a non-ELF file apart', () => {
    expect(readCore(bufferSource(modulePage(ID)))).toEqual({ notCore: 'not-core', type: 3 });
    expect(readCore(bufferSource(Buffer.from('hello world, not ELF')))).toEqual({ notCore: 'not-elf' });
    expect(readCore(bufferSource(Buffer.alloc(0)))).toEqual({ notCore: 'not-elf' });
  });
});

describe('hostile cores', () => {
  it('a core truncated anywhere never throws, and keeps what it holds', () => {
    const buf = twoLibCore();
    for (let len = 0; len <= buf.length; len += 97) {
      const cut = buf.subarray(0, len);
      const core = readCore(bufferSource(cut));
      if ('notCore' in core) continue;
      const modules = coreModules(core, bufferSource(cut));
      for (const m of modules) if (m.buildId) expect([ID, ID2].map((b) => b.toString('hex'))).toContain(m.buildId);
    }
    const half = buf.subarray(0, 4096 + 4096 + 100); // the second library's page is cut
    const modules = coreModules(read(half), bufferSource(half));
    expect(modules.find((m) => m.path === '/usr/lib64/liba.so.1')?.buildId).toBe(ID.toString('hex'));
    expect(modules.find((m) => m.path === '/usr/lib64/libb.so.2')?.buildId).toBeUndefined();
  });

  it('an NT_FILE claiming millions of entries is cut to what its descriptor holds', () => {
    const desc = fileNote([{ start: 0x1000, end: 0x2000, pageOffset: 0, path: '/x' }], { claimed: 50_000_000 });
    const buf = buildCore({ loads: [], notes: [{ name: 'CORE', type: NT_FILE, desc }] });
    const core = read(buf);
    expect(core.files.length).toBeLessThanOrEqual(1);
    expect(core.malformed).toMatch(/claims 50000000 mappings/);
  });

  it('notes with bad sizes end the walk instead of overflowing', () => {
    const bad = Buffer.alloc(24);
    bad.writeUInt32LE(0xffffffff, 0); // n_namesz
    bad.writeUInt32LE(0xfffffff0, 4); // n_descsz
    bad.writeUInt32LE(NT_FILE, 8);
    const buf = buildCore({ loads: [{ vaddr: 0x10000, data: modulePage(ID) }], notes: [] });
    // Put the bad note where the (empty) note segment is: a one-note segment.
    const core = read(Buffer.concat([buf]));
    expect(core.files).toEqual([]);
    const withBad = buildCore({ loads: [], notes: [{ name: 'CORE', type: NT_FILE, desc: bad }] });
    expect(() => read(withBad)).not.toThrow();
  });

  it('a build-id note of absurd length is not read past its area', () => {
    const page = modulePage(ID);
    // The module's PT_NOTE claims 4 GiB: only the bytes the core has are looked at.
    page.writeBigUInt64LE(0xffffffffn, 64 + 56 + 32);
    const buf = buildCore({ loads: [{ vaddr: 0x10000, data: page }], notes: [] });
    const modules = coreModules(read(buf), bufferSource(buf));
    expect(modules).toHaveLength(1);
    // The 1 MiB note read cap exceeds the page: the note is "not dumped", never a crash.
    expect(modules[0]!.buildId ?? 'none').toMatch(/^(none|[0-9a-f]{40})$/);
  });

  it('a path with .. in a core is never a path to write', () => {
    expect(safeRelative('/usr/lib64/../../etc/passwd')).toBeUndefined();
    expect(safeRelative('usr/src/debug/./x.c')).toBeUndefined();
    expect(safeRelative('/usr/src/debug/app-misc/x-1/a.c')).toBe('usr/src/debug/app-misc/x-1/a.c');
    expect(safeRelative('./usr/src/debug/a.c')).toBe('usr/src/debug/a.c');
    expect(safeRelative('usr//x')).toBeUndefined();
  });
});

describe('a core streamed through ElfCapture (compressed cores)', () => {
  it('keeps what the core reader asks for, and gives the same modules', () => {
    const buf = Buffer.concat([twoLibCore(), Buffer.alloc(3 << 20)]);
    const capture = new ElfCapture(UNKNOWN_SIZE, {
      headBytes: 1024,
      inspect: (src) => {
        const core = readCore(src);
        if (!('notCore' in core)) coreModules(core, src);
      },
    });
    for (let at = 0; at < buf.length; at += 1000) capture.push(buf.subarray(at, at + 1000));
    expect(capture.retainedBytes).toBeLessThan(64 * 1024);
    const src = capture.finished();
    expect(src.size).toBe(buf.length);
    const core = readCore(src);
    if ('notCore' in core) throw new Error('not a core');
    const modules = coreModules(core, src);
    expect(modules.map((m) => m.buildId)).toEqual([ID.toString('hex'), ID2.toString('hex')]);
  });
});
