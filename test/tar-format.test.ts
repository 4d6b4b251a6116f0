import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeHeader, encodeHeader, type HeaderFields, paxNeeds, splitUstarName } from '../src/tar/header.js';
import { TAR_META_LIMIT, TarParser, type TarEntry } from '../src/tar/parse.js';
import { decodePaxRecords, encodePaxRecords, PAX_KEYS, parsePaxNumber } from '../src/tar/pax.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasTar = requireTool('tar');

const fields = (over: Partial<HeaderFields> = {}): HeaderFields => ({
  name: './usr/lib/debug/x.debug',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 5,
  mtime: 1700000000,
  type: '0',
  linkname: '',
  uname: 'root',
  gname: 'root',
  devmajor: 0,
  devminor: 0,
  ...over,
});

function parseAll(buf: Buffer, chunk = 100): { entries: (TarEntry & { data: string })[]; parser: TarParser } {
  const entries: (TarEntry & { data: string })[] = [];
  const parser = new TarParser({
    entry: (e) => entries.push({ ...e, data: '' }),
    data: (_e, c) => {
      entries[entries.length - 1]!.data += c.toString('latin1');
    },
  });
  for (let i = 0; i < buf.length; i += chunk) parser.write(buf.subarray(i, i + chunk));
  parser.end();
  return { entries, parser };
}

describe('ustar header', () => {
  it('round-trips and carries a valid checksum', () => {
    const h = fields();
    const d = decodeHeader(encodeHeader(h));
    expect(d).toEqual({ header: h });
  });
  it('splits long names into prefix and name, and asks for pax when it cannot', () => {
    const long = `./usr/src/debug/${'d/'.repeat(60)}file.c`;
    expect(splitUstarName(long)).not.toBeNull();
    expect(paxNeeds(fields({ name: long }))).toEqual({});
    expect(decodeHeader(encodeHeader(fields({ name: long })))).toMatchObject({ header: { name: long } });
    const oneLongComponent = `./usr/src/debug/${'x'.repeat(120)}`;
    expect(paxNeeds(fields({ name: oneLongComponent }))).toEqual({ path: oneLongComponent });
    expect(paxNeeds(fields({ name: './usr/src/debug/caf\u00e9.c' }))).toHaveProperty('path');
    expect(paxNeeds(fields({ size: 2 ** 34 }))).toEqual({ size: String(2 ** 34) });
    expect(paxNeeds(fields({ linkname: 'l'.repeat(101), type: '2', size: 0 }))).toHaveProperty('linkpath');
  });
  it('rejects a bad checksum and reads zero blocks as such', () => {
    const b = encodeHeader(fields());
    b[0] ^= 1;
    expect(decodeHeader(b)).toEqual({ error: 'tar header checksum mismatch' });
    expect(decodeHeader(Buffer.alloc(512))).toEqual({ zero: true });
  });
});

describe('pax records', () => {
  it('computes lengths that count their own digits', () => {
    for (const n of [1, 80, 88, 89, 90, 991, 995, 1000]) {
      const rec = encodePaxRecords({ path: 'p'.repeat(n) });
      expect(Number(rec.toString().split(' ')[0])).toBe(rec.length);
      expect(decodePaxRecords(rec)).toEqual({ records: new Map([['path', 'p'.repeat(n)]]) });
    }
  });
  it('rejects malformed records', () => {
    expect(decodePaxRecords(Buffer.from('99 path=x\n'))).toHaveProperty('error');
    expect(decodePaxRecords(Buffer.from('abc path=x\n'))).toHaveProperty('error');
    expect(decodePaxRecords(Buffer.from('11 path=xy'))).toHaveProperty('error');
  });
});

describe('TarParser', () => {
  it.skipIf(!hasTar)('reads GNU tar output in gnu, pax and ustar formats, in chunks of any size', async () => {
    const dir = await tmpdir('tar-parse');
    const src = path.join(dir, 'src');
    const longName = `${'n'.repeat(150)}.c`;
    await fs.mkdir(path.join(src, 'sub'), { recursive: true });
    await fs.writeFile(path.join(src, 'sub', longName), 'long\n');
    await fs.writeFile(path.join(src, 'a.txt'), 'hello');
    await fs.symlink('a.txt', path.join(src, 'link'));
    await fs.link(path.join(src, 'a.txt'), path.join(src, 'hard'));
    for (const format of ['gnu', 'pax']) {
      const { stdout } = await execa('tar', [`--format=${format}`, '--sort=name', '-C', src, '-cf', '-', '.'], {
        encoding: 'buffer',
      });
      const buf = Buffer.from(stdout);
      for (const chunk of [1, 511, 512, 4096]) {
        const { entries, parser } = parseAll(buf, chunk);
        expect(parser.ended).toBe(true);
        const byName = new Map(entries.map((e) => [e.path, e]));
        expect(byName.get(`./sub/${longName}`)?.data).toBe('long\n');
        expect(byName.get('./link')).toMatchObject({ type: '2', linkpath: 'a.txt' });
        const hard = [byName.get('./hard'), byName.get('./a.txt')].find((e) => e?.type === '1');
        expect(hard?.linkpath).toMatch(/^\.\/(a\.txt|hard)$/);
        // Offsets point at the first header of each entry, data after its last one.
        for (const e of entries) {
          expect(e.headerOffset % 512).toBe(0);
          expect(buf.subarray(e.dataOffset, e.dataOffset + e.data.length).toString('latin1')).toBe(e.data);
        }
      }
    }
  });

  it('fails cleanly on truncated and hostile input', () => {
    const header = encodeHeader(fields({ size: 2000 }));
    const truncated = Buffer.concat([header, Buffer.alloc(100)]);
    expect(() => parseAll(truncated)).toThrow(/truncated/);
    const bad = Buffer.from(header);
    bad[10] ^= 0x40;
    expect(() => parseAll(Buffer.concat([bad, Buffer.alloc(1024)]))).toThrow(/checksum/);
    const hugePax = encodeHeader(fields({ type: 'x', size: 2 ** 30 }));
    expect(() => parseAll(hugePax)).toThrow(/too large/);
    const lone = Buffer.concat([Buffer.alloc(512), encodeHeader(fields({ size: 0 })), Buffer.alloc(1024)]);
    expect(() => parseAll(lone)).toThrow(/lone zero block/);
  });
});

/** A pax header for the next member, as raw blocks. */
function paxBlocks(type: 'x' | 'g', records: Buffer): Buffer {
  const pad = Buffer.alloc((512 - (records.length % 512)) % 512);
  return Buffer.concat([encodeHeader(fields({ name: './PaxHeaders/m', type, size: records.length })), records, pad]);
}

/** Names and sizes as GNU tar lists them (`tar -tv`), with its exit status. */
async function gnuTarList(tar: Buffer): Promise<{ members: string[]; exitCode: number; stderr: string }> {
  const r = await execa('tar', ['--numeric-owner', '-tvf', '-'], { input: tar, reject: false, encoding: 'buffer' });
  const lines = Buffer.from(r.stdout).toString('utf8').split('\n').filter(Boolean);
  // -rw-r--r-- 0/0         512 2023-11-14 22:13 name
  const members = lines.map((l) => {
    const m = /^\S+ \S+ +(\d+) \S+ \S+ (.*)$/.exec(l)!;
    return `${m[2]} ${m[1]}`;
  });
  return { members, exitCode: r.exitCode ?? -1, stderr: Buffer.from(r.stderr).toString('utf8') };
}

/** What packdebug reads, going on as GNU tar does past what tools read differently. */
function lenientList(tar: Buffer): { members: string[]; ambiguous: string[] } {
  const members: string[] = [];
  const ambiguous: string[] = [];
  const parser = new TarParser({
    entry: (e) => members.push(`${e.path} ${e.size}`),
    ambiguous: (message) => ambiguous.push(message),
  });
  parser.write(tar);
  parser.end();
  return { members, ambiguous };
}

describe('numbers as GNU tar reads them', () => {
  it('parses pax numbers like GNU tar 1.34 (decimal only; a sign or a fraction only where it allows one)', () => {
    const ok: [string, string, number][] = [
      ['size', '0', 0],
      ['size', '0400', 400],
      ['size', '-0', 0],
      ['size', '9007199254740991', 2 ** 53 - 1],
      ['uid', '4294967295', 4294967295],
      ['mtime', '1700000000.999999999', 1700000000],
      ['mtime', '1700000000.', 1700000000],
      ['mtime', '-1.5', -2],
      ['mtime', '-0.5', -1],
      ['mtime', '-7', -7],
      ['mtime', '-7.000', -7],
    ];
    for (const [key, text, value] of ok) expect(parsePaxNumber(key, text), `${key}=${text}`).toEqual({ value });
    const bad: [string, string][] = [
      ['size', '0x400'],
      ['size', '+400'],
      ['size', ' 400'],
      ['size', '400 '],
      ['size', '\t400'],
      ['size', ''],
      ['size', '-'],
      ['size', '-400'],
      ['size', '4e2'],
      ['size', '400.0'],
      ['size', '0o1000'],
      ['size', '\u0664\u0660\u0660'], // Arabic-Indic digits: not ISDIGIT
      ['size', '9007199254740993'],
      ['uid', '4294967296'],
      ['gid', '-1'],
      ['mtime', '.5'],
      ['mtime', '1.5.'],
      ['mtime', '+1'],
      ['mtime', '0x10'],
    ];
    for (const [key, text] of bad) expect(parsePaxNumber(key, text), `${key}=${text}`).toHaveProperty('error');
  });

  it.skipIf(!hasTar)('frames members as GNU tar does whatever the pax size (tar -tv compared)', async () => {
    // An empty member whose pax size, if read as 512, hides the next header.
    const hidden = encodeHeader(fields({ name: '../../../../tmp/x', size: 0 }));
    for (const value of ['0x200', '512', '0512', '00000000512', '-0', '+512', ' 512', '512 ', '', '5.12e2', '-512']) {
      const tar = Buffer.concat([
        paxBlocks('x', encodePaxRecords({ size: value })),
        encodeHeader(fields({ name: 'empty', size: 0 })),
        hidden,
        Buffer.alloc(1024),
      ]);
      const gnu = await gnuTarList(tar);
      const ours = lenientList(tar);
      expect(ours.members, `size=${JSON.stringify(value)}`).toEqual(gnu.members);
      // GNU tar complains exactly when packdebug finds the record ambiguous.
      expect(ours.ambiguous.length > 0, `size=${JSON.stringify(value)}: ${gnu.stderr}`).toBe(
        /Malformed extended header|out of range/.test(gnu.stderr),
      );
      if (ours.ambiguous.length > 0)
        expect(() => parseAll(tar)).toThrow(/member 'empty' at offset 0: pax record size=/);
    }
  });

  it.skipIf(!hasTar)('reads ustar number fields as GNU tar does (tar -tv compared)', async () => {
    const latin1 = (s: string) => Buffer.from(s, 'latin1');
    const sizes: [string, Buffer, number | null][] = [
      ['octal, NUL-terminated', latin1('00000001000\0'), 512],
      ['leading blanks', latin1('        1000'), 512],
      ['trailing space', latin1('0000001000 \0'), 512],
      ['one leading NUL (an old tar)', latin1('\x000000001000 '), 512],
      ['anything after a terminator', latin1('1000 junk!!!'), 512],
      ['tab and newline as blanks', latin1('\t\n00001000\0\0'), 512],
      ['base-256', Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0]), 512],
      ['all NUL', Buffer.alloc(12), 0],
      ['all blank', latin1(' '.repeat(12)), null],
      ['NUL then blanks', latin1(`\0${' '.repeat(11)}`), null],
      ['a non-octal digit', latin1('00000001008\0'), null],
      ['hex', latin1('0x200\0\0\0\0\0\0\0'), null],
      ['base-256, negative', Buffer.from([0xff, ...Array(11).fill(0xff)]), null],
      ['high bit, not base-256', Buffer.from([0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0]), null],
      ['a sign', latin1('+0000001000\0'), null],
    ];
    for (const [what, raw, size] of sizes) {
      const header = encodeHeader(fields({ name: 'm', size: 0 }));
      raw.copy(header, 124);
      header.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of header) sum += b;
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
      const decoded = decodeHeader(header);
      if (size === null) expect(decoded, what).toHaveProperty('error');
      else expect(decoded, what).toMatchObject({ header: { size } });
      const tar = Buffer.concat([header, Buffer.alloc(512), Buffer.alloc(1024)]);
      const gnu = await gnuTarList(tar);
      if (size === null) expect(gnu.exitCode, `${what}: ${gnu.stderr}`).not.toBe(0);
      else expect(gnu.members, what).toEqual([`m ${size}`]);
    }
  });

  it('reads pax records as GNU tar does: blanks around the length, values to their first NUL', () => {
    const rec = (s: string) => decodePaxRecords(Buffer.from(s, 'latin1'));
    expect(rec('13  path=abc\n')).toEqual({ records: new Map([['path', 'abc']]) });
    expect(rec(' 13\tpath=abc\n')).toEqual({ records: new Map([['path', 'abc']]) });
    expect(rec('14 path=ab\0cd\n')).toEqual({ records: new Map([['path', 'ab']]) });
    expect(rec('12 path=abc\n\0\0\0')).toEqual({ records: new Map([['path', 'abc']]) });
    expect(rec('0xd path=abc\n')).toHaveProperty('error');
    expect(rec('+13 path=abc\n')).toHaveProperty('error');
    expect(rec('13path=abc\n\n')).toHaveProperty('error');
    expect(rec('12 pa\0h=abc\n')).toHaveProperty('error');
    expect(rec('99999999999999999999 a=b\n')).toHaveProperty('error');
    const kept = decodePaxRecords(encodePaxRecords({ 'SCHILY.xattr.x': 'y', path: 'p', size: '5' }), PAX_KEYS);
    expect(kept).toEqual({
      records: new Map([
        ['path', 'p'],
        ['size', '5'],
      ]),
    });
  });

  it('reports what GNU tar and libarchive read differently, and refuses it without a handler', () => {
    const after = encodeHeader(fields({ name: 'after', size: 0 }));
    const twoPax = Buffer.concat([
      paxBlocks('x', encodePaxRecords({ path: 'from-first' })),
      paxBlocks('x', encodePaxRecords({ mtime: '5' })),
      encodeHeader(fields({ name: 'm', size: 0 })),
      Buffer.alloc(1024),
    ]);
    // GNU tar keeps the last pax header only.
    expect(lenientList(twoPax)).toMatchObject({ members: ['m 0'], ambiguous: [expect.stringMatching(/second pax/)] });
    expect(() => parseAll(twoPax)).toThrow(/second pax header/);
    const globalSize = Buffer.concat([paxBlocks('g', encodePaxRecords({ size: '512' })), after, Buffer.alloc(1024)]);
    expect(() => parseAll(globalSize)).toThrow(/global pax header at offset 0 sets size/);
    for (const [type, pax] of [
      ['2', true],
      ['2', false],
      ['5', true],
      ['1', true],
    ] as const) {
      const announced = Buffer.concat([
        ...(pax ? [paxBlocks('x', encodePaxRecords({ size: '512' }))] : []),
        encodeHeader(fields({ name: 'l', type, linkname: 't', size: pax ? 0 : 512 })),
        after,
        Buffer.alloc(1024),
      ]);
      expect(() => parseAll(announced), `${type} ${pax}`).toThrow(/announces 512 bytes/);
    }
    // A hardlink's ustar size is skipped by no tool.
    const hardlink = Buffer.concat([
      encodeHeader(fields({ name: 'h', type: '1', linkname: 't', size: 512 })),
      after,
      Buffer.alloc(1024),
    ]);
    expect(parseAll(hardlink).entries.map((e) => e.path)).toEqual(['h', 'after']);
  });
});

describe('global pax headers', () => {
  it('keep only the records packdebug uses, whatever their number, and the last global header wins', () => {
    const records = Buffer.concat(
      Array.from({ length: 20_000 }, (_, i) => encodePaxRecords({ [`k${i}`]: 'v' })).concat(
        encodePaxRecords({ uname: 'global', mtime: '1234.5' }),
      ),
    );
    expect(records.length).toBeGreaterThan(200_000);
    const members = Array.from({ length: 2_000 }, (_, i) => encodeHeader(fields({ name: `m${i}`, size: 0 })));
    const tar = Buffer.concat([
      paxBlocks('g', records),
      ...members,
      paxBlocks('g', encodePaxRecords({ gname: 'second' })),
      encodeHeader(fields({ name: 'last', size: 0 })),
      Buffer.alloc(1024),
    ]);
    const seen: TarEntry[] = [];
    let retained = 0;
    const parser = new TarParser({
      entry: (e) => {
        seen.push(e);
        retained = Math.max(retained, parser.retainedPaxRecords);
      },
    });
    parser.write(tar);
    parser.end();
    expect(seen).toHaveLength(2_001);
    expect(seen[1_999]).toMatchObject({ uname: 'global', gname: 'root', mtime: 1234 });
    // GNU tar 1.34: a global header replaces the previous one.
    expect(seen[2_000]).toMatchObject({ path: 'last', uname: 'root', gname: 'second', mtime: 1700000000 });
    // Per member, the parser holds and looks up the few keys it uses, never the 20,000 records.
    expect(retained).toBeLessThanOrEqual(PAX_KEYS.size);
  });

  it('refuses a global header over the limit', () => {
    const huge = encodeHeader(fields({ type: 'g', size: TAR_META_LIMIT + 1 }));
    expect(() => parseAll(Buffer.concat([huge, Buffer.alloc(TAR_META_LIMIT + 512)]))).toThrow(
      /extended header of 1048577 bytes at offset 0 is too large/,
    );
  });
});
